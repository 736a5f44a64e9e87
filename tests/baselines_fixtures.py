"""A tiny preprocessed clip written by the tests (ARCHITECTURE.md layout), for the baselines tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def make_clip(clip_dir: Path, n_frames: int = 30, height: int = 120, width: int = 160, seed: int = 0,
              identity: int | None = None) -> Path:
    """Write video.mp4 (25 fps, no audio), audio.wav (16 kHz mono), clip.npz and status.json; return clip_dir.

    The frames are a smooth random texture with a dark "mouth" ellipse whose height follows the audio envelope;
    the landmarks' lip midpoints (positions of mesh ids 0 and 17) follow the same openness. ``identity`` (default:
    ``seed``) seeds the texture, so clips of one identity differ only in their audio and mouth.
    """
    import cv2
    import soundfile as sf

    from stsa.data.audio import SAMPLE_RATE, melspectrogram
    from stsa.data.clip import ClipData
    from stsa.data.crops import crop_faces
    from stsa.data.landmarks import LOWER_LIP_MID, N_LANDMARKS, UPPER_LIP_MID
    from stsa.data.video import write_video

    rng = np.random.default_rng(seed)
    clip_dir = Path(clip_dir)
    clip_dir.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(n_frames / 25 * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 2.0 * t + rng.uniform(0, 6))
    wav = (0.3 * envelope * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    sf.write(clip_dir / "audio.wav", wav, SAMPLE_RATE, subtype="PCM_16")
    openness = np.interp(np.arange(n_frames) / 25, t, envelope)

    tex = np.random.default_rng(seed if identity is None else identity).integers(40, 220, (12, 16, 3))
    base = cv2.resize(tex.astype(np.uint8), (width, height),
                      interpolation=cv2.INTER_CUBIC)
    boxes = np.zeros((n_frames, 4), np.int32)
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    for i in range(n_frames):
        f = base.copy()
        x1, y1 = 40 + i % 3, 20 + (i // 2) % 2
        boxes[i] = (x1, y1, x1 + 80, y1 + 80)
        cv2.ellipse(f, (x1 + 40, y1 + 58), (14, int(2 + 10 * openness[i])), 0, 0, 360, (30, 10, 10), -1)
        cv2.circle(f, (x1 + 25, y1 + 28), 5, (250, 250, 250), -1)
        cv2.circle(f, (x1 + 55, y1 + 28), 5, (250, 250, 250), -1)
        frames[i] = f
    write_video(clip_dir / "video.mp4", frames, crf=0)
    from stsa.data.video import read_frames

    decoded = read_frames(clip_dir / "video.mp4")
    landmarks = rng.uniform(0.2, 0.8, (n_frames, N_LANDMARKS, 2)).astype(np.float32)
    landmarks[:, UPPER_LIP_MID] = np.stack([np.full(n_frames, 0.5), 0.72 - 0.06 * openness], 1)
    landmarks[:, LOWER_LIP_MID] = np.stack([np.full(n_frames, 0.5), 0.74 + 0.06 * openness], 1)
    points = landmarks * (boxes[:, None, 2:] - boxes[:, None, :2]) + boxes[:, None, :2]  # in frame pixels
    ClipData(crop_faces(decoded, boxes), boxes, landmarks, np.ones(n_frames, bool), melspectrogram(wav),
             points=points.astype(np.float32), frame_size=np.array([height, width], np.int32)).save(clip_dir)
    (clip_dir / "status.json").write_text(json.dumps({"clip": clip_dir.name, "status": "ok", "reason": "",
                                                      "n_frames": n_frames, "fps_in": 25.0, "fps_out": 25}))
    return clip_dir


def make_root(root: Path, ids: list[str], n_frames: int = 30, identity: int | None = None, seed0: int = 0) -> Path:
    """Several clips + a manifest.csv (all in the train split); one texture for all when ``identity`` is given."""
    for k, cid in enumerate(ids):
        make_clip(root / cid, n_frames=n_frames, seed=seed0 + k, identity=identity)
    lines = ["clip,status,reason,split"] + [f"{cid},ok,,train" for cid in ids]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


def single_thread():
    """Generator for an autouse fixture: torch on one thread (OpenMP spin-waits badly on a shared 2-core box)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
