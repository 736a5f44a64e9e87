"""mediapipe FaceMesh with the release's settings (static images, refined landmarks, one face, confidence 0.5)."""

from __future__ import annotations

import os

import numpy as np

N_MESH = 478  # FaceMesh vertices with refine_landmarks=True


class FaceMeshDetector:
    """FaceMesh on RGB frames; use as a context manager or call ``close()``.

    ``pad`` adds a black border of that fraction of the frame size before detection: FaceMesh's face detector
    misses faces that fill a tight crop, so landmark metrics on 128x128 crops detect on a padded canvas.
    """

    def __init__(self, pad: float = 0.0, min_detection_confidence: float = 0.5):
        os.environ.setdefault("GLOG_minloglevel", "2")
        import mediapipe as mp

        self.pad = pad
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True,
            min_detection_confidence=min_detection_confidence)

    def __enter__(self) -> FaceMeshDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._mesh.close()

    def detect(self, frame: np.ndarray) -> np.ndarray | None:
        """(H, W, 3) uint8 RGB -> (478, 2) float32 pixel coordinates (x, y), or None when no face is found."""
        h, w = frame.shape[:2]
        py, px = int(round(self.pad * h)), int(round(self.pad * w))
        image = np.pad(frame, ((py, py), (px, px), (0, 0))) if (py or px) else frame
        result = self._mesh.process(np.ascontiguousarray(image))
        if not result.multi_face_landmarks:
            return None
        ph, pw = image.shape[:2]
        pts = np.array([(p.x, p.y) for p in result.multi_face_landmarks[0].landmark], dtype=np.float32)
        return pts * np.array([pw, ph], np.float32) - np.array([px, py], np.float32)

    def detect_many(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, H, W, 3) -> points (T, 478, 2) float32 (NaN where missed), found (T,) bool."""
        points = np.full((len(frames), N_MESH, 2), np.nan, dtype=np.float32)
        found = np.zeros(len(frames), dtype=bool)
        for i, frame in enumerate(frames):
            pts = self.detect(frame)
            if pts is not None:
                points[i], found[i] = pts, True
        return points, found
