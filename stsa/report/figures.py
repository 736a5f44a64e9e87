"""Report figures as base64 PNG: qualitative frame strips, mouth-corner trajectories, per-video distributions.

Matplotlib figures are built with the object API (Agg canvas, no pyplot state) and saved without metadata, so the
same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd

GT_COLOR = "#000000"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
DPI = 100


def method_colors(methods: list[str]) -> dict[str, str]:
    """A fixed color per method in the given order (GT black)."""
    colors, i = {}, 0
    for m in methods:
        if m == "GT":
            colors[m] = GT_COLOR
        else:
            colors[m] = PALETTE[i % len(PALETTE)]
            i += 1
    return colors


def png_base64(image: np.ndarray) -> str:
    """(H, W, 3) uint8 RGB -> base64 PNG (lossless, deterministic)."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    if not ok:
        raise ValueError("PNG encoding failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def frame_strip(frames: np.ndarray, indices: list[int]) -> np.ndarray:
    """(T, S, S, 3) crops -> (S, len(indices) * S, 3) one row of the qualitative grid (black for missing frames)."""
    s = frames.shape[1]
    row = np.zeros((s, len(indices) * s, 3), np.uint8)
    for j, t in enumerate(indices):
        if 0 <= t < len(frames):
            row[:, j * s:(j + 1) * s] = frames[t]
    return row


def evenly_spaced(n_frames: int, k: int) -> list[int]:
    """k frame indices evenly spaced over [0, n_frames - 1] (fewer when the clip is shorter)."""
    return sorted({int(round(v)) for v in np.linspace(0, n_frames - 1, min(k, n_frames))})


def figure_base64(fig) -> str:
    """Matplotlib Figure -> base64 PNG without metadata (deterministic bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))  # fixed margins: constrained layout costs seconds per figure
    FigureCanvasAgg(fig)
    return fig


def trajectory_figure(tracks: dict[str, np.ndarray], title: str) -> str:
    """{method: (T, 2, 2) corner tracks (x, y px)} -> 2x2 panels: y and x of left/right corner over frames."""
    fig = _new_figure(11, 6)
    axes = fig.subplots(2, 2, sharex=True)
    fig.subplots_adjust(left=0.06, right=0.82, bottom=0.09, top=0.9, wspace=0.22, hspace=0.25)
    colors = method_colors(list(tracks))
    for name, tr in tracks.items():
        t = np.arange(len(tr))
        width = 2.2 if name == "GT" else 1.2
        for k, corner in enumerate(("left", "right")):
            for r, (axis, label) in enumerate(((1, "y"), (0, "x"))):
                ax = axes[r, k]
                ax.plot(t, tr[:, k, axis], color=colors[name], lw=width, label=name if (r, k) == (0, 0) else None)
                ax.set_title(f"{corner} mouth corner: {label} (px in 128x128 crop)", fontsize=9)
    for ax in axes[0]:
        ax.invert_yaxis()  # image y grows downwards: up on the plot = up in the face
    for ax in axes[1]:
        ax.set_xlabel("frame")
    fig.legend(loc="upper left", bbox_to_anchor=(0.835, 0.9), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    return figure_base64(fig)


def distribution_figure(per_video: pd.DataFrame, metric: str, methods: list[str], summary: pd.DataFrame,
                        seed: int = 0) -> str:
    """Box + strip plot of one metric's per-video values per method, with the mean and its bootstrap 95% CI."""
    width = max(4.0, 0.9 * len(methods) + 1.5)
    fig = _new_figure(width, 3.4)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.8 / width, right=1 - 0.15 / width, bottom=0.3, top=0.9)
    rng = np.random.default_rng(seed)
    colors = method_colors(methods)
    data = []
    for m in methods:
        v = per_video.loc[per_video["method"] == m, metric].to_numpy(float)
        data.append(v[np.isfinite(v)])
    pos = np.arange(1, len(methods) + 1)
    filled = [i for i, d in enumerate(data) if len(d)]
    if filled:
        ax.boxplot([data[i] for i in filled], positions=pos[filled], widths=0.5, showfliers=False,
                   medianprops={"color": "#555555"})
    for i, (m, d) in enumerate(zip(methods, data, strict=True)):
        jitter = rng.uniform(-0.12, 0.12, len(d))
        ax.scatter(pos[i] + jitter, d, s=10, color=colors[m], alpha=0.6, zorder=3)
        row = summary[(summary["method"] == m) & (summary["metric"] == metric)]
        if len(row) and np.isfinite(row["mean"].iloc[0]):
            mean, lo, hi = (float(row[c].iloc[0]) for c in ("mean", "low", "high"))
            ax.errorbar(pos[i] + 0.3, mean, yerr=[[mean - lo], [hi - mean]], fmt="D", ms=4, color="#000000",
                        capsize=3, zorder=4)
    ax.set_xticks(pos, methods, rotation=30, ha="right", fontsize=8)
    ax.set_xlim(0.4, len(methods) + 0.8)
    ax.set_title(f"{metric}: per-video values, mean and bootstrap 95% CI (diamond)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return figure_base64(fig)
