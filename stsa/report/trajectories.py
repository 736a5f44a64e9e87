"""Mouth-corner trajectories (paper Fig. 4): Lucas-Kanade tracking from the ground truth's corners of frame 0."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stsa.data.landmarks import MESH_IDS

MOUTH_CORNER_IDS = (61, 291)  # FaceMesh ids of the left and right mouth corners
MOUTH_CORNERS = tuple(MESH_IDS.index(i) for i in MOUTH_CORNER_IDS)  # positions in the 131-point order


@dataclass(frozen=True)
class LKConfig:
    """cv2.calcOpticalFlowPyrLK settings (21 px window, 3 pyramid levels, sub-pixel convergence)."""

    win_size: int = 21
    max_level: int = 3
    max_iter: int = 50
    eps: float = 1e-3


def mouth_corners(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(131, 2) crop-normalised landmarks -> (2, 2) pixel positions (x, y) of the mouth corners in a size^2 crop."""
    return np.asarray(landmarks, np.float32)[list(MOUTH_CORNERS)] * size


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    return frame if frame.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def track_points(frames: np.ndarray, start: np.ndarray, cfg: LKConfig = LKConfig()) -> np.ndarray:
    """Track (K, 2) x,y points from frame 0 through (T, H, W[, 3]) uint8 frames -> (T, K, 2) float32.

    Frame-to-frame pyramidal Lucas-Kanade; a point LK loses stays NaN from then on.
    """
    import cv2

    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, cfg.max_iter, cfg.eps)
    out = np.full((len(frames), len(start), 2), np.nan, np.float32)
    out[0] = start
    prev = _gray(frames[0])
    for t in range(1, len(frames)):
        cur = _gray(frames[t])
        alive = np.isfinite(out[t - 1, :, 0])
        if alive.any():
            pts = out[t - 1, alive].reshape(-1, 1, 2).astype(np.float32)
            nxt, status, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, None, winSize=(cfg.win_size, cfg.win_size),
                                                      maxLevel=cfg.max_level, criteria=criteria)
            nxt = nxt.reshape(-1, 2)
            nxt[status.ravel() == 0] = np.nan
            out[t, alive] = nxt
        prev = cur
    return out


def corner_trajectories(sequences: dict[str, np.ndarray], landmarks0: np.ndarray,
                        cfg: LKConfig = LKConfig()) -> dict[str, np.ndarray]:
    """{name: (T, S, S, 3) crops} + GT frame-0 (131, 2) landmarks -> {name: (T, 2, 2)} corner tracks (x, y px)."""
    out = {}
    for name, frames in sequences.items():
        start = mouth_corners(landmarks0, frames.shape[2])
        out[name] = track_points(frames, start, cfg)
    return out
