"""A tiny STSA config and a tiny preprocessed corpus for fast training/dubbing tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def tiny_config():
    """The demo preset with every width cut further and 2 references (tests only: fast, learns nothing)."""
    from stsa.config import STSAConfig
    from stsa.train.checkpoint import config_from_dict, config_to_dict

    d = config_to_dict(STSAConfig.demo())
    d["guidance"].update(d_model=32, nlayers=1, nhead=2, dim_feedforward=32, enc_channels=[4, 8, 8, 16],
                         audio_channels=[8, 16])
    d["renderer"].update(feat_channels=[4, 16, 32], ref_mid_channels=8, heatmap_channels=4, align_channels=8,
                         audio_channels=8, spade_hidden=8, adain_hidden=8, translation_channels=[4, 16, 64],
                         cil_dim=8, mine_hidden=8)
    d["n_ref"] = 2
    return config_from_dict(d)


def face_landmarks(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,131,2) landmarks on an ellipse-ish face layout with a mouth opening that varies over time."""
    from stsa.data.landmarks import LIP

    base = np.empty((131, 2), np.float32)
    ang = np.linspace(0, 2 * np.pi, 131, endpoint=False)
    base[:, 0] = 0.5 + 0.35 * np.cos(ang)
    base[:, 1] = 0.5 + 0.4 * np.sin(ang)
    lips = np.array(LIP)
    la = np.linspace(0, 2 * np.pi, len(lips), endpoint=False)
    base[lips, 0] = 0.5 + 0.15 * np.cos(la)
    base[lips, 1] = 0.75 + 0.05 * np.sin(la)
    out = np.repeat(base[None], n, 0) + rng.normal(0, 0.003, (n, 131, 2)).astype(np.float32)
    opening = 0.03 * (1 + np.sin(np.arange(n) / 2.0))
    out[:, lips, 1] += opening[:, None] * np.sign(np.sin(la))[None]
    return np.clip(out, 0, 1)


def make_corpus(root: Path, n_clips: int = 2, n_frames: int = 12, seed: int = 0) -> Path:
    """Write ``n_clips`` preprocessed clips (smooth random faces, landmarks, mel of noise) under ``root``."""
    import cv2

    from stsa.data.audio import melspectrogram
    from stsa.data.clip import ClipData, write_status

    rng = np.random.default_rng(seed)
    for c in range(n_clips):
        small = rng.integers(0, 255, (n_frames, 8, 8, 3), dtype=np.uint8)
        crops = np.stack([cv2.resize(s, (128, 128), interpolation=cv2.INTER_CUBIC) for s in small])
        mel = melspectrogram(rng.normal(0, 0.1, n_frames * 640).astype(np.float32))
        boxes = np.tile(np.array([10, 10, 138, 138], np.int32), (n_frames, 1))
        clip_dir = root / f"spk{c}" / "00001"
        landmarks = face_landmarks(n_frames, rng)
        ClipData(crops, boxes, landmarks, np.ones(n_frames, bool), mel, points=landmarks * 128 + 10,
                 frame_size=np.array([148, 148], np.int32)).save(clip_dir)
        write_status(clip_dir, {"clip": f"spk{c}/00001", "status": "ok", "n_frames": n_frames})
    return root
