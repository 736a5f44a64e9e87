"""Synthetic preprocessed datasets for the metric tests (a textured moving face-sized patch, known boxes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from stsa.data.crops import crop_faces
from stsa.data.video import read_frames, write_video

H, W = 144, 176


def textured_frames(n: int, seed: int = 0, shift: int = 1) -> np.ndarray:
    """(n, H, W, 3) uint8: a smooth random texture translated by ``shift`` px per frame."""
    import cv2

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (H // 4 + n, W // 4 + n, 3), dtype=np.uint8)
    big = cv2.resize(base, ((W // 4 + n) * 4, (H // 4 + n) * 4), interpolation=cv2.INTER_CUBIC)
    return np.stack([big[i * shift:i * shift + H, i * shift:i * shift + W] for i in range(n)])


def make_gt(root: Path, clip_id: str, n: int = 12, seed: int = 0) -> np.ndarray:
    """Write ``root/clip_id/{video.mp4, audio.wav, clip.npz, status.json}``; returns the GT full frames."""
    import soundfile as sf

    d = root / clip_id
    d.mkdir(parents=True, exist_ok=True)
    write_video(d / "video.mp4", textured_frames(n, seed))
    frames = read_frames(d / "video.mp4")
    boxes = np.tile(np.array([[30, 10, 130, 110]], np.int32), (n, 1))
    boxes[:, [0, 2]] += np.arange(n)[:, None] % 3
    rng = np.random.default_rng(seed)
    wav = (0.1 * rng.standard_normal(n * 640)).astype(np.float32)
    sf.write(d / "audio.wav", wav, 16000, subtype="PCM_16")
    np.savez(d / "clip.npz", crops=crop_faces(frames, boxes), boxes=boxes,
             landmarks=np.zeros((n, 131, 2), np.float16), detected=np.ones(n, bool))
    (d / "status.json").write_text(json.dumps({"clip": clip_id, "status": "ok", "n_frames": n}))
    return frames
