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


CONTOUR_BLUR = 21  # release: cv2.GaussianBlur(mask, (21, 21), 11)
CONTOUR_SIGMA = 11


def contour_mask(contour: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, 2) pixel contour of one frame, in order -> (height, width) uint8 mask, 255 inside the polygon
    (``cv2.fillConvexPoly`` of the points truncated to int, as the release's ``preds.astype(int)``)."""
    mask = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(mask, np.trunc(np.asarray(contour, np.float64)).astype(np.int32), 255)
    return mask


def paste_faces_contour(frames: np.ndarray, faces: np.ndarray, boxes: np.ndarray, contours: np.ndarray) -> np.ndarray:
    """The release's paste-back: each (s, s, 3) face resized into its box, then blended into the original frame
    through the blurred face contour (``contours`` (T, N, 2) pixels in order, e.g. the FaceMesh points
    ``stsa.data.landmarks.PASTE_CONTOUR``): out = pasted * m + frame * (1 - m), m = blur(mask) / 255, truncated to
    uint8. Pixels farther than the blur radius from the contour keep the frame's exact values.
    (T, H, W, 3) uint8 -> (T, H, W, 3) uint8."""
    out = frames.copy()
    h, w = frames.shape[1:3]
    reach = CONTOUR_BLUR  # > 2 blur radii: blurring this window equals blurring the whole frame
    for i, (face, (x1, y1, x2, y2), contour) in enumerate(zip(faces, boxes, contours, strict=True)):
        pasted = out[i].copy()
        pasted[y1:y2, x1:x2] = cv2.resize(face, (int(x2 - x1), int(y2 - y1)))
        mask = contour_mask(contour, h, w)
        ys, xs = np.nonzero(mask)
        if not len(ys):
            continue
        r0, r1 = max(int(ys.min()) - reach, 0), min(int(ys.max()) + reach + 1, h)
        c0, c1 = max(int(xs.min()) - reach, 0), min(int(xs.max()) + reach + 1, w)
        m = cv2.GaussianBlur(mask[r0:r1, c0:c1], (CONTOUR_BLUR, CONTOUR_BLUR), CONTOUR_SIGMA)[..., None] / 255.0
        window = pasted[r0:r1, c0:c1] * m + frames[i, r0:r1, c0:c1] * (1 - m)
        out[i, r0:r1, c0:c1] = window.astype(np.uint8)
    return out
