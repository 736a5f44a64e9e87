"""Wav2Lip training samples from preprocessed clips: 96x96 BGR faces, mel windows, in/out-of-sync pairs."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from baselines.wav2lip.model import IMG_SIZE
from stsa.errors import DatasetError
from stsa.modules.sync_expert import SYNC_T


def list_clip_dirs(root: str | Path, split: str = "train") -> list[Path]:
    """Clip dirs of ``split`` from ``<root>/manifest.csv`` (status ok), else every dir holding a clip.npz."""
    root = Path(root)
    manifest = root / "manifest.csv"
    if manifest.is_file():
        with open(manifest, newline="") as f:
            rows = list(csv.DictReader(f))
        dirs = [root / r["clip"] for r in rows
                if r.get("split", split) == split and r.get("status", "ok") == "ok" and (root / r["clip"]).is_dir()]
    else:
        dirs = sorted(p.parent for p in root.rglob("clip.npz"))
    if not dirs:
        raise DatasetError(root, f"no preprocessed {split} clips found",
                           "run `stsa-bench preprocess` (manifest.csv with a split column, or clip dirs with clip.npz)")
    return dirs


def faces_96(crops: np.ndarray) -> np.ndarray:
    """(T, 128, 128, 3) RGB uint8 -> (T, 96, 96, 3) BGR uint8 (Wav2Lip's channel order)."""
    return np.stack([cv2.resize(c, (IMG_SIZE, IMG_SIZE))[..., ::-1] for c in crops])


def to_tensor_images(x: np.ndarray):
    """(..., H, W, 3) uint8 -> float tensor (..., 3, H, W) in [0, 1]."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0)
    return t.movedim(-1, -3)


@dataclass
class ClipSamples:
    faces: np.ndarray  # (T, 96, 96, 3) BGR uint8
    mel_win: np.ndarray  # (T, 80, 16): window i starts at frame i


class Wav2LipData:
    """All training clips in memory; sampling is driven by a numpy Generator (deterministic per step)."""

    def __init__(self, clip_dirs: list[Path], mel_shift: int = -2):
        from stsa.data.audio import mel_windows

        self.clips: list[ClipSamples] = []
        for d in clip_dirs:
            with np.load(Path(d) / "clip.npz") as z:
                crops, mel = z["crops"], z["mel"]
            if len(crops) < 3 * SYNC_T:
                continue
            self.clips.append(ClipSamples(faces_96(crops), mel_windows(mel, len(crops))))
        if not self.clips:
            raise DatasetError(Path(clip_dirs[0]).parent if clip_dirs else None,
                               f"no clip has at least {3 * SYNC_T} frames", "use longer clips")
        self.mel_shift = mel_shift

    def _frame_mels(self, clip: ClipSamples, frames: np.ndarray) -> np.ndarray:
        idx = np.clip(frames + self.mel_shift, 0, len(clip.mel_win) - 1)
        return clip.mel_win[idx]

    def expert_batch(self, rng: np.random.Generator, batch: int):
        """faces (B, 3, 5, 96, 96), mel (B, 1, 80, 16), label (B,): half in sync, half with a window >= 5 frames
        away (Wav2Lip's negatives: a wrong face window for the right audio)."""
        import torch

        faces, mels, labels = [], [], []
        for b in range(batch):
            clip = self.clips[rng.integers(len(self.clips))]
            n = len(clip.faces)
            s = int(rng.integers(0, n - SYNC_T + 1))
            y = b % 2 == 0
            v = s
            if not y:
                far = [t for t in range(n - SYNC_T + 1) if abs(t - s) >= SYNC_T]
                v = int(far[rng.integers(len(far))])
            faces.append(clip.faces[v:v + SYNC_T])
            mels.append(clip.mel_win[s])
            labels.append(float(y))
        f = to_tensor_images(np.stack(faces)).permute(0, 2, 1, 3, 4)  # (B, 3, 5, 96, 96)
        return f, torch.from_numpy(np.stack(mels))[:, None], torch.tensor(labels)

    def generator_batch(self, rng: np.random.Generator, batch: int):
        """For B windows of 5 frames: gt (B, 3, 5, 96, 96), reference (B, 3, 5, 96, 96) from another window,
        per-frame mels (B, 5, 1, 80, 16), the window's expert mel (B, 1, 80, 16)."""
        import torch

        gts, refs, mels, sync_mels = [], [], [], []
        for _ in range(batch):
            clip = self.clips[rng.integers(len(self.clips))]
            n = len(clip.faces)
            s = int(rng.integers(0, n - SYNC_T + 1))
            r = int(rng.integers(0, n - SYNC_T + 1))
            while r == s:
                r = int(rng.integers(0, n - SYNC_T + 1))
            gts.append(clip.faces[s:s + SYNC_T])
            refs.append(clip.faces[r:r + SYNC_T])
            mels.append(self._frame_mels(clip, np.arange(s, s + SYNC_T)))
            sync_mels.append(clip.mel_win[s])
        gt = to_tensor_images(np.stack(gts)).permute(0, 2, 1, 3, 4)
        ref = to_tensor_images(np.stack(refs)).permute(0, 2, 1, 3, 4)
        return gt, ref, torch.from_numpy(np.stack(mels))[:, :, None], torch.from_numpy(np.stack(sync_mels))[:, None]
