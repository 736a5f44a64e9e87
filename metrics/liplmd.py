"""LipLMD: mean L2 distance between the 40 mediapipe lip landmarks (``stsa.data.landmarks.LIP``: outer 20 + inner
20) of generated and ground-truth crops, coordinates divided by the crop size (128), mean over points, then over
frames. Detection on a padded canvas (``FaceMeshDetector(pad=0.25)``: FaceMesh misses faces filling a tight
crop). Frames where either detection fails are counted (``liplmd_failed_frames``) and left out of the mean."""

from __future__ import annotations

import math

import numpy as np

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


class LipLMD:
    """Stateful wrapper: ``update(pred, gt)`` per video; ``compute()`` = mean over videos; ``failed_frames``."""

    def __init__(self):
        from stsa.data.facemesh import FaceMeshDetector

        self.detector = FaceMeshDetector(pad=PAD)
        self.reset()

    def reset(self) -> None:
        self.values: list[float] = []
        self.failed_frames = 0

    def update(self, pred: np.ndarray, gt: np.ndarray) -> float:
        p, pf = lip_landmarks(self.detector, pred)
        g, gf = lip_landmarks(self.detector, gt)
        v, failed = liplmd(p, g, pf, gf)
        self.values.append(v)
        self.failed_frames += failed
        return v

    def compute(self) -> float:
        vals = [v for v in self.values if not math.isnan(v)]
        return float(np.mean(vals)) if vals else math.nan

    def close(self) -> None:
        self.detector.close()
