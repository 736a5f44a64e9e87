"""Training samples from preprocessed clips: T-frame windows with audio, heatmaps, landmarks, faces, references."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stsa.errors import DatasetError

N_REF = 5  # reference frames / heatmaps (release)
WINDOW = 5  # T frames per training window


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


def heatmaps(landmarks: np.ndarray, kind: str) -> np.ndarray:
    """(T,131,2) -> (T,128,128) float16 heatmaps via stsa.data.heatmaps.render_heatmaps."""
    from stsa.data.heatmaps import render_heatmaps

    h = np.asarray(render_heatmaps(np.asarray(landmarks, np.float32), kind))
    return h.reshape(len(landmarks), *h.shape[-2:]).astype(np.float16)


@dataclass
class ClipSamples:
    """Everything a clip contributes to training, in memory (T frames)."""

    clip_id: str
    crops: np.ndarray  # (T,128,128,3) uint8 BGR: the networks' channel order (the release's cv2 frames)
    audio: np.ndarray  # (T,A,W) float32 model audio windows
    sync_mel: np.ndarray  # (T,80,16) float32 mel windows for the expert
    face_hm: np.ndarray  # (T,128,128) float16 whole-face heatmaps
    pose_hm: np.ndarray  # (T,128,128) float16 upper-half heatmaps
    content: np.ndarray  # (T,2,57) float32 jaw+lip landmarks
    refs: np.ndarray  # (5,) reference frame indices

    @classmethod
    def from_clip(cls, clip, clip_id: str, frontend: str, n_ref: int = N_REF) -> ClipSamples:
        from stsa.data.audio import mel_windows
        from stsa.data.landmarks import select_references

        n = clip.n_frames
        lm = np.asarray(clip.landmarks, np.float32)
        return cls(clip_id, np.ascontiguousarray(clip.crops[..., ::-1]),
                   audio_windows(clip.mel, clip.wav2vec, n, frontend), mel_windows(clip.mel, n).astype(np.float32),
                   heatmaps(lm, "face"), heatmaps(lm, "pose"), content_landmarks(lm),
                   select_references(clip.openness, n_ref))


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


def manifest_hash(root: str | Path, clip_ids: list[str]) -> str:
    """SHA-256 over one line per clip: ``clip_id, size of clip.npz, SHA-256 of its first MiB`` (cheap, and it
    changes whenever preprocessing rewrites a clip)."""
    h = hashlib.sha256()
    for cid in clip_ids:
        path = Path(root) / cid / "clip.npz"
        with path.open("rb") as f:
            head = hashlib.sha256(f.read(1 << 20)).hexdigest()
        h.update(f"{cid},{path.stat().st_size},{head}\n".encode())
    return h.hexdigest()


class TrainingData:
    """Random T-frame windows of a set of clips; the sampler state is a numpy Generator (checkpointed)."""

    def __init__(self, root: str | Path, frontend: str, split: str | None = "train", window: int = WINDOW,
                 max_clips: int | None = None, n_ref: int = N_REF):
        from stsa.data.clip import ClipData

        self.root = Path(root)
        self.window = window
        ids = find_clips(root, split)[:max_clips]
        self.clips = []
        self.rejected: list[tuple[str, str]] = []
        for cid in ids:
            try:
                clip = ClipData.load(self.root / cid)
            except DatasetError as exc:
                self.rejected.append((cid, str(exc)))
                continue
            if clip.n_frames < window:
                self.rejected.append((cid, f"{clip.n_frames} frames < window {window}"))
                continue
            self.clips.append(ClipSamples.from_clip(clip, cid, frontend, n_ref))
        if not self.clips:
            raise DatasetError(self.root, "no clip long enough to train on", "preprocess more clips")
        self.clip_ids = [c.clip_id for c in self.clips]
        self.hash = manifest_hash(self.root, self.clip_ids)

    def sample(self, rng: np.random.Generator, batch: int) -> list[tuple[int, int]]:
        """``batch`` (clip index, window start) pairs."""
        out = []
        for _ in range(batch):
            c = int(rng.integers(len(self.clips)))
            out.append((c, int(rng.integers(self.clips[c].crops.shape[0] - self.window + 1))))
        return out

    def batch(self, picks: list[tuple[int, int]]) -> dict[str, torch.Tensor]:
        """Tensors for B windows of T frames (N = 5 references):

        audio (B,T,A,W), sync_mel (B,1,80,16) at the window start, pose_hm/face_hm (B,T,1,128,128),
        ref_hm (B,N,1,128,128), content (B,T,2,57), faces (B,T,3,128,128) BGR in [0,1], ref_faces (B,N,3,128,128) BGR.
        """
        t = self.window
        cols: dict[str, list[np.ndarray]] = {k: [] for k in
                                             ("audio", "sync_mel", "pose_hm", "face_hm", "ref_hm", "content",
                                              "faces", "ref_faces")}
        for c, s in picks:
            clip = self.clips[c]
            sl = slice(s, s + t)
            cols["audio"].append(clip.audio[sl])
            cols["sync_mel"].append(clip.sync_mel[s][None])
            cols["pose_hm"].append(clip.pose_hm[sl][:, None])
            cols["face_hm"].append(clip.face_hm[sl][:, None])
            cols["ref_hm"].append(clip.face_hm[clip.refs][:, None])
            cols["content"].append(clip.content[sl])
            cols["faces"].append(clip.crops[sl])
            cols["ref_faces"].append(clip.crops[clip.refs])
        out = {k: torch.from_numpy(np.stack(v)) for k, v in cols.items()}
        for k in ("pose_hm", "face_hm", "ref_hm"):
            out[k] = out[k].float()
        for k in ("faces", "ref_faces"):
            out[k] = out[k].permute(0, 1, 4, 2, 3).float() / 255.0
        return out


def mask_lower_half(faces: torch.Tensor) -> torch.Tensor:
    """(...,3,128,128) -> copy with rows 64-127 zeroed (the renderer's input face)."""
    out = faces.clone()
    out[..., faces.shape[-2] // 2:, :] = 0
    return out
