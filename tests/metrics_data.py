"""Synthetic preprocessed datasets for the metric tests (a textured moving face-sized patch, known boxes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stsa.data.clip import ClipData, write_status
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
    save_clip(d, crop_faces(frames, boxes), boxes)
    return frames


def save_clip(d: Path, crops: np.ndarray, boxes: np.ndarray) -> None:
    """``clip.npz`` (zero landmarks and mel: the metrics read crops and boxes) and an ok ``status.json``."""
    n = len(crops)
    ClipData(crops=crops, boxes=boxes, landmarks=np.zeros((n, 131, 2), np.float16), detected=np.ones(n, bool),
             mel=np.zeros((80, 4 * n), np.float32)).save(d)
    write_status(d, {"clip": d.name, "status": "ok", "n_frames": n})


def random_weights(wdir: Path, calibration: np.ndarray, seed: int = 0) -> dict[str, Path]:
    """Seeded random weights for the four network metrics under the manifest's file names in ``wdir``, a manifest
    copy listing their SHA-256 (``wdir/manifest.yaml``) and the AlexNet file in ``wdir/torch/hub/checkpoints`` too
    (where lpips' own loader looks). Non-degenerate: the Inception's BatchNorm statistics are those of
    ``calibration`` (N, H, W, 3) uint8 frames (a random Inception's raw features are ~1e-8 and give FID ~0 for
    anything); SyncNet's are random. Numbers computed with them check agreement only; they are not scores."""
    import torch
    import torchvision
    from syncnet_python.SyncNetModel import S

    torch.manual_seed(seed)
    inception_state = fid_inception_state(calibration, seed)
    sync = S()
    for m in sync.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    states = {"pt_inception": inception_state, "alexnet": torchvision.models.alexnet().state_dict(),
              "syncnet_v2": sync.state_dict(), "raft_large": torchvision.models.optical_flow.raft_large().state_dict()}
    return save_weights(states, wdir)


def save_weights(states: dict, wdir: Path) -> dict[str, Path]:
    """``{name: state_dict}`` saved under the manifest's file names in ``wdir``, a manifest copy listing their SHA-256
    (``wdir/manifest.yaml``) and the AlexNet file in ``wdir/torch/hub/checkpoints`` too (where lpips' own loader
    looks) -> {name: path}."""
    import hashlib

    import torch
    import yaml

    from stsa import weights

    data = yaml.safe_load(weights.MANIFEST.read_text())
    wdir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, state in states.items():
        path = wdir / data["weights"][name]["file"]
        torch.save(state, path)
        data["weights"][name]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        paths[name] = path
    (wdir / "manifest.yaml").write_text(yaml.safe_dump(data))
    hub = wdir / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True, exist_ok=True)
    (hub / paths["alexnet"].name).write_bytes(paths["alexnet"].read_bytes())
    return paths


def weights_env(wdir: Path) -> dict[str, str]:
    """Environment pointing stsa.weights (and torch hub) at ``random_weights(wdir, ...)``."""
    return {"STSA_BENCH_WEIGHTS": str(wdir), "STSA_BENCH_WEIGHTS_MANIFEST": str(wdir / "manifest.yaml"),
            "TORCH_HOME": str(wdir / "torch")}


def fid_inception_state(calibration: np.ndarray, seed: int = 0) -> dict:
    """State dict of pytorch-fid's FID Inception, randomly initialised (seeded), its BatchNorm running statistics
    those of ``calibration`` (N, H, W, 3) uint8 frames through the model's own input path (299 px, [-1, 1]):
    features of O(1) that differ between images, where a raw random Inception gives ~1e-8 (FID ~0)."""
    from unittest import mock

    import torch
    from pytorch_fid import inception

    torch.manual_seed(seed)
    with mock.patch.object(torch.nn.Module, "load_state_dict", lambda self, *a, **k: None), \
            mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: {}):
        net = inception.fid_inception_v3()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # running statistics = the calibration batch's
    x = torch.from_numpy(np.ascontiguousarray(calibration)).permute(0, 3, 1, 2).float() / 255
    x = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) * 2 - 1
    with torch.no_grad():
        net.train()(x)
    return {k: v.clone() for k, v in net.eval().state_dict().items()}
