"""Face crops: cutting boxes out of full frames at 128x128, and pasting generated faces back."""

from __future__ import annotations

import cv2
import numpy as np

CROP_SIZE = 128


def crop_faces(frames: np.ndarray, boxes: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """(T, H, W, 3) uint8 frames, (T, 4) int boxes x1,y1,x2,y2 (end exclusive) -> (T, size, size, 3) uint8.

    Bilinear resize (OpenCV's default, as the STSA release). The same function crops ground truth and method
    outputs, so a method's misalignment counts against it.
    """
    out = np.empty((len(frames), size, size, 3), dtype=np.uint8)
    for i, (frame, (x1, y1, x2, y2)) in enumerate(zip(frames, boxes, strict=True)):
        out[i] = cv2.resize(frame[y1:y2, x1:x2], (size, size))
    return out


def paste_faces(frames: np.ndarray, faces: np.ndarray, boxes: np.ndarray, feather: int = 11) -> np.ndarray:
    """Paste (T, s, s, 3) faces back into copies of (T, H, W, 3) frames through a feathered box mask."""
    out = frames.copy()
    for i, (face, (x1, y1, x2, y2)) in enumerate(zip(faces, boxes, strict=True)):
        w, h = x2 - x1, y2 - y1
        patch = cv2.resize(face, (w, h)).astype(np.float32)
        mask = np.zeros((h, w), np.float32)
        m = max(1, min(w, h) // 16)
        mask[m:h - m, m:w - m] = 1.0
        k = feather | 1
        mask = cv2.GaussianBlur(mask, (k, k), 0)[..., None]
        region = out[i, y1:y2, x1:x2].astype(np.float32)
        out[i, y1:y2, x1:x2] = np.clip(mask * patch + (1 - mask) * region + 0.5, 0, 255).astype(np.uint8)
    return out
