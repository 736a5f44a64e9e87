"""LipLMD: mean L2 distance between the 40 mediapipe lip landmarks (``stsa.data.landmarks.LIP``: outer 20 + inner
20) of generated and ground-truth crops, coordinates divided by the crop size (128), mean over points, then over
frames. Detection on a padded canvas (``FaceMeshDetector(pad=0.25)``: FaceMesh misses faces filling a tight
crop). Frames where either detection fails are counted (``liplmd_failed_frames``) and left out of the mean."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metrics.base import Metric
from stsa.data.landmarks import LIP, MESH_IDS

LIP_MESH_IDS = [MESH_IDS[i] for i in LIP]  # FaceMesh vertex ids of the 40 lip points
PAD = 0.25


def lip_landmarks(detector, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, S, S, 3) uint8 RGB crops -> (T, 40, 2) float32 lip points in [0, 1] of the crop (NaN if missed),
    found (T,) bool."""
    points, found = detector.detect_many(crops)  # (T, 478, 2) pixels
    return lips_from_points(points, crops.shape), found


def lips_from_points(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(T, 478, 2) FaceMesh pixels of (T, H, W, 3) crops -> (T, 40, 2) float32 lip points in [0, 1]."""
    size = np.array([shape[2], shape[1]], np.float32)
    return points[:, LIP_MESH_IDS] / size


def liplmd(pred_lips: np.ndarray, gt_lips: np.ndarray, pred_found: np.ndarray,
           gt_found: np.ndarray) -> tuple[float, int]:
    """(T, 40, 2) x2 normalised points + found masks -> (mean distance over frames with both found, failed count)."""
    both = pred_found & gt_found
    failed = int(len(both) - both.sum())
    if not both.any():
        return math.nan, failed
    d = np.linalg.norm(pred_lips[both].astype(np.float64) - gt_lips[both], axis=-1)  # (F, 40)
    return float(d.mean(axis=1).mean()), failed


class LipLMD(Metric):
    """Engine: FaceMesh on the prediction (and on the ground truth when not cached) in ``workers`` processes
    (default: all cores; 0 = in this process; ``metrics.facemesh_pool``, reused across runs of the process), so
    ``start`` returns at once and the evaluator goes on with the next video. Per video: LipLMD and
    ``liplmd_failed_frames``; ``compute()``: the mean over videos and the failed frames summed."""

    name = "liplmd"

    def __init__(self, device="cpu", cache=None, workers: int | None = None):
        from metrics.facemesh_pool import detector_for

        super().__init__(device, cache, workers=workers)
        self.detector = detector_for(self.options["workers"], PAD)  # workers start building their graphs now

    def start(self, pred: np.ndarray, gt, pred_path: Path | None = None) -> Callable[[], dict[str, Any]]:
        gt_job = None if self.cache.has("liplmd", gt) else self.detector.submit(gt.crops)
        pred_job = self.detector.submit(pred)

        def gt_lips() -> dict[str, np.ndarray]:
            pts, found = (gt_job or self.detector.submit(gt.crops)).result()
            return {"lips": lips_from_points(pts, gt.crops.shape), "found": found}

        def finish() -> dict[str, Any]:
            g = self.cache.get("liplmd", gt, gt_lips)
            pts, pf = pred_job.result()
            n = len(pred)
            value, failed = liplmd(lips_from_points(pts, pred.shape), g["lips"][:n], pf, g["found"][:n])
            return {"LipLMD": value, "liplmd_failed_frames": failed}

        return finish

    def video(self, pred: np.ndarray, gt, pred_path: Path | None = None) -> dict[str, Any]:
        return self.start(pred, gt, pred_path)()
