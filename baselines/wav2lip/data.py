"""Wav2Lip training samples streamed from preprocessed clips: 96x96 BGR faces, mel windows, in/out-of-sync pairs."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np
import torch

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
    t = torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0)
    return t.movedim(-1, -3)


class Wav2LipData(torch.utils.data.Dataset):
    """Training windows of the clips with at least 3 x 5 frames, streamed: an index (clip dirs, frame counts) in
    memory, each item read from the clip's memory-mapped clip.npz. ``expert_picks`` / ``generator_picks`` draw a
    step's items from a numpy Generator (Wav2Lip's sampling, unchanged); ``stsa.train.data.collate`` stacks
    them and ``expert_batch`` / ``generator_batch`` move them to the device as the networks' inputs."""

    def __init__(self, clip_dirs: list[Path], mel_shift: int = -2):
        from stsa.train.data import scan_clips

        dirs = [Path(d) for d in clip_dirs]
        root = Path(os.path.commonpath([str(d.parent) for d in dirs])) if dirs else Path(".")
        ids = [str(d.relative_to(root)) for d in dirs]
        kept, self.n_frames, self.rejected, self.hash = scan_clips(root, ids, 3 * SYNC_T, ("crops", "mel"))
        self.clip_dirs = [root / cid for cid in kept]
        if not self.clip_dirs:
            raise DatasetError(root if dirs else None, f"no clip has at least {3 * SYNC_T} frames",
                               "use longer clips")
        self.mel_shift = mel_shift

    def __len__(self) -> int:
        return len(self.clip_dirs)

    def expert_picks(self, rng: np.random.Generator, batch: int) -> list[tuple]:
        """B items ("expert", clip, audio window start, face window start, label): even ones in sync, odd ones
        with a face window >= 5 frames away (Wav2Lip's negatives: a wrong face window for the right audio)."""
        out = []
        for b in range(batch):
            c = int(rng.integers(len(self.clip_dirs)))
            n = int(self.n_frames[c])
            s = int(rng.integers(0, n - SYNC_T + 1))
            y = b % 2 == 0
            v = s
            if not y:
                far = [t for t in range(n - SYNC_T + 1) if abs(t - s) >= SYNC_T]
                v = int(far[rng.integers(len(far))])
            out.append(("expert", c, s, v, float(y)))
        return out

    def generator_picks(self, rng: np.random.Generator, batch: int) -> list[tuple]:
        """B items ("generator", clip, window start, reference window start != start)."""
        out = []
        for _ in range(batch):
            c = int(rng.integers(len(self.clip_dirs)))
            n = int(self.n_frames[c])
            s = int(rng.integers(0, n - SYNC_T + 1))
            r = int(rng.integers(0, n - SYNC_T + 1))
            while r == s:
                r = int(rng.integers(0, n - SYNC_T + 1))
            out.append(("generator", c, s, r))
        return out

    def __getitem__(self, pick: tuple) -> dict[str, np.ndarray]:
        """expert: faces (3,5,96,96) uint8 BGR of the face window, mel (1,80,16) at the audio window, label ();
        generator: gt and ref (3,5,96,96) uint8 BGR, per-frame mels (5,1,80,16), the window's expert mel (1,80,16)."""
        from stsa.data.audio import mel_windows
        from stsa.data.clip import ClipData

        kind, c = pick[0], pick[1]
        clip = ClipData.load(self.clip_dirs[c], mmap=True)
        n = clip.n_frames
        if n != self.n_frames[c]:
            raise DatasetError(clip.clip_dir, f"has {n} frames, {self.n_frames[c]} when training started",
                               "do not rewrite the training clips while a model trains on them")
        mel_win = mel_windows(np.asarray(clip.mel, np.float32), n)  # (T,80,16): window i starts at frame i

        def window(start: int) -> np.ndarray:
            return np.ascontiguousarray(faces_96(clip.crops[start:start + SYNC_T]).transpose(3, 0, 1, 2))

        if kind == "expert":
            _, _, s, v, y = pick
            return {"faces": window(v), "mel": mel_win[s][None], "label": np.float32(y)}
        _, _, s, r = pick
        idx = np.clip(np.arange(s, s + SYNC_T) + self.mel_shift, 0, n - 1)
        return {"gt": window(s), "ref": window(r), "mels": np.ascontiguousarray(mel_win[idx][:, None]),
                "sync_mel": mel_win[s][None]}


def expert_batch(batch: dict[str, torch.Tensor], device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """faces (B,3,5,96,96) in [0,1], mel (B,1,80,16), label (B,) on ``device``."""
    from stsa.train.data import to_device

    b = to_device(batch, torch.device(device))
    return b["faces"], b["mel"], b["label"]


def generator_batch(batch: dict[str, torch.Tensor], device
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """gt, ref (B,3,5,96,96) in [0,1], per-frame mels (B,5,1,80,16), the window's expert mel (B,1,80,16)."""
    from stsa.train.data import to_device

    b = to_device(batch, torch.device(device))
    return b["gt"], b["ref"], b["mels"], b["sync_mel"]
