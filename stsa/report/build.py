"""Assemble the report: per table its results, provenance, qualitative grid, trajectories and statistics."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from stsa.report import figures, html
from stsa.report.stats import compare_to, higher_is_better, metric_summary
from stsa.report.trajectories import corner_trajectories
from stsa.tables import ABLATION_LABELS, ABLATION_PREFIX

log = logging.getLogger(__name__)

DATASET_NAMES = {"lrs2": "LRS2", "cmlr": "CMLR"}
NOT_COMPARED = ("GT", "Reference-copy")  # control rows: never "best", not baselines in the paired tests


@dataclass(frozen=True)
class ReportConfig:
    """What the report shows and how its statistics are drawn."""

    n_boot: int = 2000
    seed: int = 0
    n_frames: int = 6  # qualitative grid columns
    n_clips: int = 2  # qualitative clips per table
    reference: str = "STSA"  # the method compared with every baseline


@dataclass
class GTClipView:
    """Ground truth of one preprocessed clip, as the report needs it."""

    crops: np.ndarray  # (T, 128, 128, 3) uint8
    boxes: np.ndarray  # (T, 4) int x1,y1,x2,y2
    landmarks: np.ndarray  # (T, 131, 2) crop-normalised
    frame_size: tuple[int, int] | None  # (H, W) of video.mp4


def load_gt(clip_dir: Path) -> GTClipView:
    """crops/boxes/landmarks through ``stsa.data.clip.ClipData.load`` and the size of ``video.mp4``."""
    from metrics.inputs import frame_size
    from stsa.data.clip import ClipData

    data = ClipData.load(clip_dir)
    return GTClipView(data.crops, data.boxes, data.landmarks.astype(np.float32), frame_size(clip_dir))


def load_method_crops(video: Path, gt: GTClipView) -> np.ndarray:
    """A method's output cropped with the ground truth's boxes, exactly as the evaluator does -> (T', 128, 128, 3)."""
    from metrics.inputs import crop_prediction

    return crop_prediction(video, gt.boxes, gt.frame_size, gt.crops.shape[1])[0]


def table_title(name: str) -> str:
    """'table1' -> 'Table 1'."""
    head = name.rstrip("0123456789")
    return f"{head.capitalize()} {name[len(head):]}".strip()


def _read_per_video(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype={"clip": str})
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame(columns=["method", "dataset", "clip", "status"])
    for col in ("method", "clip"):
        if col not in df:
            return pd.DataFrame(columns=["method", "dataset", "clip", "status"])
    return df


def _best_rows(table: pd.DataFrame, metrics: list[str]) -> dict[str, int]:
    """Row index of the best value per metric among the compared methods (GT and Reference-copy left out)."""
    best = {}
    for m in metrics:
        vals = pd.to_numeric(table[m], errors="coerce")
        vals[table["method"].isin(NOT_COMPARED) | (table.get("status", "ok") != "ok")] = np.nan
        vals = vals[np.isfinite(vals)]
        if len(vals) > 1:
            best[m] = int(vals.idxmax() if higher_is_better(m) else vals.idxmin())
    return best


def method_dir(label: str) -> str:
    """Dubbed-output directory name of a table row (Table III's row names map back to ``STSA@<variant>``)."""
    inverse = {v: k for k, v in ABLATION_LABELS.items()}
    return f"{ABLATION_PREFIX}{inverse[label]}" if label in inverse else label


def pick_clips(per_video: pd.DataFrame, gt_dir: Path | None, k: int) -> list[str]:
    """Up to k clips with ground truth, those produced by the most methods first (ties by clip id)."""
    if gt_dir is None or per_video.empty:
        return []
    ok = per_video[per_video["status"].fillna("ok") == "ok"] if "status" in per_video else per_video
    counts = ok.groupby("clip")["method"].nunique()
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [c for c, _ in ranked if (gt_dir / c / "clip.npz").is_file()][:k]


def qualitative(dataset: str, clips: list[str], methods: list[str], gt_dir: Path, dubbed_root: Path,
                cfg: ReportConfig) -> tuple[str, str]:
    """HTML of the Fig. 3-style grid and the Fig. 4-style trajectories of the chosen clips."""
    grids, trajs = [], []
    for clip in clips:
        gt = load_gt(gt_dir / clip)
        frame_ids = figures.evenly_spaced(len(gt.crops), cfg.n_frames)
        seqs = {"GT": gt.crops}
        strips = [("GT", figures.png_base64(figures.frame_strip(gt.crops, frame_ids)), "ground truth")]
        for method in methods:
            if method == "GT":
                continue
            video = dubbed_root / dataset / method_dir(method) / f"{clip}.mp4"
            if not video.is_file():
                strips.append((method, None, f"no output ({video.name} missing)"))
                continue
            try:
                crops = load_method_crops(video, gt)
            except Exception as exc:  # noqa: BLE001 - one unreadable output never sinks the report
                strips.append((method, None, f"unreadable output: {exc}"))
                continue
            seqs[method] = crops
            note = "" if len(crops) == len(gt.crops) else f"{len(crops)} of {len(gt.crops)} frames"
            strips.append((method, figures.png_base64(figures.frame_strip(crops, frame_ids)), note))
        grids.append(html.qualitative_grid(clip, frame_ids, strips))
        n = min(len(s) for s in seqs.values())
        tracks = corner_trajectories({m: s[:n] for m, s in seqs.items()}, gt.landmarks[0])
        trajs.append(html.img(figures.trajectory_figure(tracks, f"clip {clip}: mouth corners (LK from GT frame 0)"),
                              f"mouth-corner trajectories of {clip}"))
    return "".join(grids), "".join(trajs)


def table_section(csv_path: Path, gt_dirs: dict[str, Path], dubbed_root: Path, cfg: ReportConfig) -> str:
    """The report section of one table."""
    name = csv_path.stem
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    meta_path = csv_path.with_name(f"{name}_provenance.json")
    prov = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    per_video = _read_per_video(csv_path.with_name(f"{name}_per_video.csv"))
    dataset = prov.get("dataset") or (str(per_video["dataset"].iloc[0]) if "dataset" in per_video and len(per_video)
                                      else "")
    metrics = [c for c in table.columns if c not in ("method", "status", "n_clips", "note")]
    available = table.loc[table.get("status", pd.Series("ok", index=table.index)) == "ok", "method"].tolist()
    pv_metrics = [m for m in metrics if m in per_video.columns  # metrics with at least one finite per-video value
                  and np.isfinite(pd.to_numeric(per_video[m], errors="coerce")).any()]
    title = f"{table_title(name)}: {DATASET_NAMES.get(dataset, dataset)}"
    parts = [f'<section id="{escape(name)}"><h2>{escape(title)}</h2>',
             "<h3>Results</h3>", html.results_table(table, metrics, _best_rows(table, metrics)),
             '<p class="note">Cells exactly as in <code>' + escape(csv_path.name) + "</code>; \u2191 higher is "
             "better, \u2193 lower is better; bold = best among the compared methods (GT and Reference-copy are "
             "controls). Unavailable rows are greyed with their reason.</p>",
             "<h3>Provenance</h3>", html.provenance(prov)]

    gt_dir = gt_dirs.get(dataset)
    clips = pick_clips(per_video, Path(gt_dir) if gt_dir else None, cfg.n_clips)
    parts.append("<h3>Qualitative comparison</h3>")
    if clips:
        grid, traj = qualitative(dataset, clips, available, Path(gt_dir), Path(dubbed_root), cfg)
        parts += [f'<p class="note">{cfg.n_frames} evenly spaced frames, 128x128 face crops (method outputs cropped '
                  "with the ground truth's boxes, as the evaluator does).</p>", grid,
                  "<h3>Mouth-corner trajectories</h3>",
                  '<p class="note">Lucas-Kanade (OpenCV pyramidal LK) tracks started at the ground truth\'s '
                  "mouth corners (FaceMesh 61, 291) of frame 0, through each sequence's own crops; "
                  "closer to the black GT curve = more faithful lip motion.</p>", traj]
    else:
        parts.append('<p class="note">No clip with ground truth and outputs was found for this dataset.</p>')

    parts.append("<h3>Per-video distributions</h3>")
    if pv_metrics and not per_video.empty:
        summary = metric_summary(per_video, pv_metrics, cfg.n_boot, cfg.seed)
        shown = [m for m in table["method"] if m in set(summary["method"])]
        parts.append(f'<p class="note">Mean over videos with a percentile-bootstrap 95% CI ({cfg.n_boot} resamples,'
                     f" seed {cfg.seed}); non-finite values are left out.</p>")
        parts.append(html.summary_table(summary, pv_metrics, shown))
        for m in pv_metrics:
            if summary.loc[summary["metric"] == m, "n"].sum() > 0:
                parts.append(html.img(figures.distribution_figure(per_video, m, shown, summary, cfg.seed),
                                      f"{m} per video"))
        parts.append(f"<h3>Paired comparison: {escape(cfg.reference)} vs each baseline</h3>")
        comparison = compare_to(per_video, cfg.reference, pv_metrics, cfg.n_boot, cfg.seed, exclude=("GT",))
        if comparison.empty:
            parts.append(f'<p class="note">{escape(cfg.reference)} has no per-video results here.</p>')
        else:
            parts.append(f'<p class="note">Mean of ({escape(cfg.reference)} \u2212 baseline) over the clips both '
                         "produced, bootstrap 95% CI, two-sided Wilcoxon signed-rank p. Green: "
                         f"{escape(cfg.reference)} significantly better in the metric's direction (p&lt;0.05 and CI "
                         "excludes 0); red: significantly worse.</p>")
            parts.append(html.paired_table(comparison, cfg.reference, pv_metrics))
    else:
        parts.append('<p class="note">No per-video results.</p>')
    parts.append("</section>")
    return "".join(parts)


def build_report(tables: list[Path], gt_dirs: dict[str, Path], dubbed_root: Path, out: Path, n_boot: int = 2000,
                 seed: int = 0, config: ReportConfig | None = None) -> Path:
    """Write one self-contained HTML report of ``results/<table>.csv`` files (+ their .json and _per_video.csv)."""
    cfg = config or ReportConfig(n_boot=n_boot, seed=seed)
    sections, nav = [], []
    for t in tables:
        t = Path(t)
        log.info("report section %s", t)
        sections.append(table_section(t, {k: Path(v) for k, v in gt_dirs.items()}, Path(dubbed_root), cfg))
        nav.append((t.stem, table_title(t.stem)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html.page("stsa-bench report", nav, sections), encoding="utf-8")
    return out


__all__ = ["ReportConfig", "build_report", "load_gt", "load_method_crops"]
