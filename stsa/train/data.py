"""Training samples streamed from preprocessed clips: T-frame windows with audio, heatmaps, landmarks, faces and
references read one window at a time from clip.npz (memory flat in the number of clips), and the step-seeded
sampler and DataLoader that feed them to the trainers."""

from __future__ import annotations

import csv
import hashlib
import zipfile
from pathlib import Path

import numpy as np
import torch

from stsa.errors import DatasetError

N_REF = 5  # reference frames / heatmaps (release)
WINDOW = 5  # T frames per training window
_NEEDED = ("crops", "landmarks", "mel", "points", "frame_size")  # what an item reads (openness needs points)


def audio_windows(mel: np.ndarray, wav2vec: np.ndarray | None, n_frames: int, frontend: str) -> np.ndarray:
    """Per-frame audio model input (T, A, W): ``mel`` -> (T,80,16), ``wav2vec`` -> (T,768,10)."""
    from stsa.data.audio import mel_windows, wav2vec_windows

    if frontend == "mel":
        return mel_windows(mel, n_frames).astype(np.float32)
    if frontend == "wav2vec":
        if wav2vec is None:
            raise DatasetError(None, "the config uses wav2vec audio features but the clip has none",
                               "preprocess with wav2vec features (needs wav2vec2_base_960h) or use a mel config")
        return wav2vec_windows(np.asarray(wav2vec, np.float32), n_frames).astype(np.float32)
    raise ValueError(f"unknown audio front end {frontend!r}")


def content_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(T,131,2) -> (T,2,57) jaw 17 + lip 40 (stsa.data.landmarks.CONTENT order), as the guidance model emits."""
    from stsa.data.landmarks import CONTENT

    return np.ascontiguousarray(np.asarray(landmarks, np.float32)[:, list(CONTENT)].transpose(0, 2, 1))


def find_clips(root: str | Path, split: str | None = "train") -> list[str]:
    """Clip ids under a preprocessed root: the ok rows of ``manifest.csv`` in ``split`` (all splits when None),
    or, without a manifest, every directory holding an ok ``status.json``."""
    from stsa.data.clip import read_status

    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "preprocessed directory not found", "run `stsa-bench preprocess` first")
    manifest = root / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="") as f:
            rows = list(csv.DictReader(f))
        ids = [r["clip"] for r in rows if r.get("status") == "ok" and (split is None or r.get("split") == split)]
    else:
        ids = sorted(str(p.parent.relative_to(root)) for p in root.rglob("status.json")
                     if read_status(p.parent).get("status") == "ok")
    if not ids:
        raise DatasetError(manifest if manifest.is_file() else root,
                           f"no usable clips (split={split})", "preprocess a dataset or pick another --split")
    return sorted(ids)


def scan_clips(root: Path, clip_ids: list[str], min_frames: int, needed: tuple[str, ...] = _NEEDED
               ) -> tuple[list[str], np.ndarray, list, str]:
    """Index the clips without reading their frames (zip directory + .npy headers of each clip.npz):
    (usable ids, their frame counts, [(id, reason)] rejected, data hash). The hash is SHA-256 over
    ``clip_id, array name, shape, zip CRC-32`` of every array: it changes whenever preprocessing rewrites a clip."""
    from stsa.data.clip import ARRAYS_FILE, npz_members

    h = hashlib.sha256()
    kept, frames, rejected = [], [], []
    for cid in clip_ids:
        path = root / cid / ARRAYS_FILE
        try:
            members = npz_members(path)
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            rejected.append((cid, f"{path}: unreadable clip arrays ({exc})"))
            continue
        missing = [k for k in needed if k not in members]
        if missing:
            rejected.append((cid, f"{path}: clip arrays lack {missing} (preprocess the clip again)"))
            continue
        n = members["crops"].shape[0]
        if n < min_frames:
            rejected.append((cid, f"{n} frames < window {min_frames}"))
            continue
        kept.append(cid)
        frames.append(n)
        for name in sorted(members):
            h.update(f"{cid},{name},{members[name].shape},{members[name].crc}\n".encode())
    return kept, np.asarray(frames, np.int64), rejected, h.hexdigest()


class TrainingData(torch.utils.data.Dataset):
    """T-frame training windows of a set of clips, streamed: only an index (clip ids, frame counts) is held in
    memory and an item ``(clip index, window start)`` reads its frames from the clip's memory-mapped clip.npz, draws
    its heatmaps and picks its references (``select_references`` of the clip's openness). Batches of a step are
    drawn by ``draw`` from a step-seeded generator (``StepBatches``)."""

    def __init__(self, root: str | Path, frontend: str, split: str | None = "train", window: int = WINDOW,
                 max_clips: int | None = None, n_ref: int = N_REF):
        if frontend not in ("mel", "wav2vec"):
            raise ValueError(f"unknown audio front end {frontend!r}")
        self.root, self.frontend, self.window, self.n_ref = Path(root), frontend, window, n_ref
        ids = find_clips(root, split)[:max_clips]
        needed = _NEEDED + (("wav2vec",) if frontend == "wav2vec" else ())
        self.clip_ids, self.n_frames, self.rejected, self.hash = scan_clips(self.root, ids, window, needed)
        if not self.clip_ids:
            raise DatasetError(self.root, f"no usable clip among {len(ids)} (first: {self.rejected[0][1]})",
                               "preprocess longer clips (wav2vec configs need clips preprocessed with wav2vec)")

    def __len__(self) -> int:
        return len(self.clip_ids)

    def draw(self, rng: np.random.Generator, batch: int) -> list[tuple[int, int]]:
        """``batch`` (clip index, window start) pairs, uniform over clips, then over window starts."""
        out = []
        for _ in range(batch):
            c = int(rng.integers(len(self.clip_ids)))
            out.append((c, int(rng.integers(self.n_frames[c] - self.window + 1))))
        return out

    def __getitem__(self, pick: tuple[int, int]) -> dict[str, np.ndarray]:
        """One window (T frames from ``start``, N references): audio (T,A,W), sync_mel (1,80,16) at the window
        start, pose_hm/face_hm (T,1,128,128) and ref_hm (N,1,128,128) float32, content (T,2,57), faces (T,3,128,128)
        and ref_faces (N,3,128,128) uint8 BGR."""
        from stsa.data.audio import mel_windows, wav2vec_windows
        from stsa.data.clip import ClipData
        from stsa.data.heatmaps import render_heatmaps
        from stsa.data.landmarks import select_references

        c, s = pick
        clip = ClipData.load(self.root / self.clip_ids[c], mmap=True)
        n, t = clip.n_frames, self.window
        if n != self.n_frames[c]:
            raise DatasetError(clip.clip_dir, f"has {n} frames, {self.n_frames[c]} when training started",
                               "do not rewrite the training clips while a model trains on them")
        refs = select_references(clip.openness, self.n_ref)
        lm = np.asarray(clip.landmarks[s:s + t], np.float32)  # (T,131,2)
        face = render_heatmaps(np.concatenate([lm, np.asarray(clip.landmarks[refs], np.float32)]), "face")
        mels = mel_windows(np.asarray(clip.mel, np.float32), n)  # (T,80,16)
        audio = mels if self.frontend == "mel" else wav2vec_windows(np.asarray(clip.wav2vec, np.float32), n)
        return {
            "audio": np.ascontiguousarray(audio[s:s + t]),
            "sync_mel": mels[s][None],
            "pose_hm": render_heatmaps(lm, "pose")[:, None],
            "face_hm": face[:t, None],
            "ref_hm": face[t:, None],
            "content": content_landmarks(lm),
            "faces": np.ascontiguousarray(clip.crops[s:s + t, ..., ::-1].transpose(0, 3, 1, 2)),
            "ref_faces": np.ascontiguousarray(clip.crops[refs][..., ::-1].transpose(0, 3, 1, 2)),
        }

    def batch(self, picks: list[tuple[int, int]], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """The items of ``picks`` collated and moved: faces/ref_faces become float in [0, 1] (see ``to_device``)."""
        return to_device(collate([self[p] for p in picks]), torch.device(device))


def collate(items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack the items' arrays on a new batch dimension (B first); uint8 stays uint8 (4x less to copy)."""
    return {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in items[0]}


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Copy a collated batch to ``device`` (non-blocking from pinned memory); uint8 images -> float in [0, 1]."""
    out = {}
    for k, v in batch.items():
        v = v.to(device, non_blocking=True)
        out[k] = v.float().div_(255.0) if v.dtype == torch.uint8 else v
    return out


class StepBatches(torch.utils.data.Sampler):
    """The picks of steps ``start`` .. ``stop - 1`` for one process: step k's global batch is ``draw(rng, batch)``
    with ``rng = np.random.default_rng([seed, k])`` and the process takes its contiguous share, so a step sees the
    same batch whether the run was resumed or not, whatever the number of loader workers or processes."""

    def __init__(self, draw, batch: int, seed: int, start: int, stop: int, world=None):
        from stsa.train.distributed import World

        self.draw, self.batch, self.seed, self.start, self.stop = draw, batch, seed, start, stop
        self.world = world or World()
        self.world.share(list(range(batch)))  # fail early on an indivisible batch

    def picks(self, step: int) -> list:
        return self.world.share(self.draw(np.random.default_rng([self.seed, step]), self.batch))

    def __iter__(self):
        return (self.picks(k) for k in range(self.start, self.stop))

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)


def _quiet_worker(_: int) -> None:
    """Loader workers compute one item at a time on one thread (the training process owns the cores)."""
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def make_loader(dataset, batches: StepBatches, workers: int, device: torch.device,
                collate_fn=collate) -> torch.utils.data.DataLoader:
    """A DataLoader over ``batches`` (one pass = the whole run, so its ``workers`` live as long as training): items
    in ``workers`` processes (0 = in the training process), pinned memory on CUDA. Items are computed without
    randomness, so the batches do not depend on ``workers``. Workers start from a forkserver, not by forking the
    training process: a fork taken while OpenCV's or OpenMP's thread pool holds a lock deadlocks the child (seen as a
    hung worker in ``cv2.setNumThreads``)."""
    return torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=workers, collate_fn=collate_fn,
                                       pin_memory=device.type == "cuda", worker_init_fn=_quiet_worker,
                                       prefetch_factor=2 if workers else None,
                                       multiprocessing_context="forkserver" if workers else None)


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """The torch seed of one training step of one process (dropout, CIL shuffles): a resumed run draws the same."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1, np.uint64)[0] >> 1)


def mask_lower_half(faces: torch.Tensor) -> torch.Tensor:
    """(...,3,128,128) -> copy with rows 64-127 zeroed (the renderer's input face)."""
    out = faces.clone()
    out[..., faces.shape[-2] // 2:, :] = 0
    return out
