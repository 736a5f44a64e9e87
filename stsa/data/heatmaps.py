"""Boundary heatmaps ("Look at Boundary", Wu et al. 2018) of the 131 landmarks, as the STSA release draws them.

The connections of ``HEATMAP_EDGES[kind]`` are drawn as 1-px lines (pixel = floor(coord * size) clipped to the
canvas, as mediapipe's drawing utils), d = distance to the nearest line pixel, value exp(-d^2 / (2 sigma^2)) where
d < 3 sigma, else 0. All frames of a clip are drawn and distance-transformed in one canvas, stacked vertically with
background gaps wider than 3 sigma so frames never see each other's lines.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from stsa.data.landmarks import HEATMAP_EDGES

KINDS = tuple(HEATMAP_EDGES)  # face, pose, lip, jaw


def landmarks_to_pixels(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(..., 2) coordinates in [0, 1] -> int32 pixels floor(coord * size) clipped to [0, size - 1]."""
    return np.clip(np.floor(np.asarray(landmarks, np.float32) * size), 0, size - 1).astype(np.int32)


def line_masks(landmarks: np.ndarray, kind: str, size: int = 128, gap: int = 0) -> np.ndarray:
    """(T, 131, 2) landmarks -> (T * (size + gap), size) uint8 canvas: 0 on the lines, 1 elsewhere.

    Frame t occupies rows t * (size + gap) .. + size; one cv2.polylines call draws every segment of every frame.
    """
    if kind not in HEATMAP_EDGES:
        raise ValueError(f"unknown heatmap kind {kind!r}; use one of {KINDS}")
    edges = HEATMAP_EDGES[kind]  # (E, 2) positions
    px = landmarks_to_pixels(landmarks, size)  # (T, 131, 2)
    t = len(px)
    px[..., 1] += (np.arange(t, dtype=np.int32) * (size + gap))[:, None]
    segments = px[:, edges].reshape(-1, 2, 2)  # (T * E, 2 points, xy)
    canvas = np.ones((t * (size + gap), size), np.uint8)
    if len(segments):
        cv2.polylines(canvas, list(segments), isClosed=False, color=0, thickness=1, lineType=cv2.LINE_8)
    return canvas


def render_heatmaps(landmarks: np.ndarray, kind: str, size: int = 128, sigma: float = 1.0,
                    precise: bool = False) -> np.ndarray:
    """(T, 131, 2) landmarks in [0, 1] of the crop -> (T, size, size) float32 heatmaps in [0, 1].

    ``kind``: face (all 131 points), pose (upper half), lip, jaw. ``precise`` uses OpenCV's exact Euclidean
    distance transform; the default 5x5 mask is the release's (``cv2.distanceTransform(.., DIST_L2, 5)``).
    A single frame (131, 2) gives (size, size).
    """
    landmarks = np.asarray(landmarks, np.float32)
    single = landmarks.ndim == 2
    if single:
        landmarks = landmarks[None]
    t = len(landmarks)
    if t == 0:
        return np.zeros((0, size, size), np.float32)
    gap = math.ceil(3 * sigma) + 1
    canvas = line_masks(landmarks, kind, size, gap)
    mask = cv2.DIST_MASK_PRECISE if precise else 5
    d = cv2.distanceTransform(canvas, cv2.DIST_L2, mask)  # (T*(size+gap), size) float32
    d = d.reshape(t, size + gap, size)[:, :size]
    heat = np.where(d < 3 * sigma, np.exp(-(d * d) / (2 * sigma * sigma)), 0.0).astype(np.float32)
    return heat[0] if single else heat


def predicted_heatmap(pose, lip, jaw):
    """Whole-face heatmap from the three parts: pose + lip + jaw, values above 1 set to 1 (release).

    Works on numpy arrays and torch tensors of any matching shape.
    """
    total = pose + lip + jaw
    if hasattr(total, "clamp"):
        return total.clamp(max=1.0)
    return np.minimum(total, 1.0)
