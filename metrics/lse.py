"""LSE-D / LSE-C with SyncNet (syncnet-python's network ``SyncNetModel.S``, weights ``syncnet_v2``).

Default ("crops", Wav2Lip's LRS convention): the 128x128 face crops, BGR (as cv2 reads them), resized to 224
(bilinear), no detection and no track-length filter; MFCC by python_speech_features defaults on the 16 kHz int16
``audio.wav``; 5-frame video windows vs 20 MFCC columns (4 per frame); distances at offsets -15..+15 (vshift 15),
mean over windows per offset; LSE-D = min, LSE-C = median - min. Identical to syncnet-python's
``SyncNetInstance.evaluate`` (see the tests), but all windows in a few network calls and distances vectorised:
the lip stream's only temporal kernel is the first Conv3d (5 frames), so running the network once over the whole
clip yields every 5-frame window's embedding without copying windows.

Option "full": syncnet-python's own pipeline (S3FD detection, scene cuts, face tracks >= 50 frames, crops) on the
prediction video; needs ``sfd_face`` too. Returns the package's min distance / max confidence over tracks.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

VSHIFT, WINDOW, MFCC_PER_FRAME, MFCC_WINDOW, SIZE = 15, 5, 4, 20, 224


def build_syncnet(weights_path: Path | None = None, device: torch.device | str = "cpu") -> torch.nn.Module:
    """syncnet-python's ``S`` with verified ``syncnet_v2`` weights, eval mode."""
    from syncnet_python.SyncNetModel import S

    from stsa.weights import load_state_dict

    net = S(num_layers_in_fc_layers=1024)
    net.load_state_dict(load_state_dict("syncnet_v2", weights_path))
    return net.to(device).eval()


def mfcc_features(audio_int16: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """(N,) int16 samples -> (13, M) MFCC (python_speech_features defaults: 25 ms window, 10 ms step)."""
    import python_speech_features

    return np.asarray(python_speech_features.mfcc(audio_int16, sample_rate)).T


def read_wav_int16(path: Path) -> tuple[np.ndarray, int]:
    """(samples, rate) as syncnet-python reads them (scipy wavfile)."""
    from scipy.io import wavfile

    rate, audio = wavfile.read(str(path))
    if audio.ndim > 1:
        audio = audio.mean(axis=1).astype(audio.dtype)
    return audio, rate


def prepare_frames(crops_rgb: np.ndarray) -> np.ndarray:
    """(T, h, w, 3) uint8 RGB crops -> (T, 224, 224, 3) uint8 BGR (cv2 bilinear resize, as Wav2Lip's script)."""
    import cv2

    return np.stack([cv2.resize(np.ascontiguousarray(f[..., ::-1]), (SIZE, SIZE)) for f in crops_rgb])


@torch.no_grad()
def lip_embeddings(net: torch.nn.Module, frames_bgr: np.ndarray, n_windows: int,
                   device: torch.device | str = "cpu", chunk: int = 32) -> torch.Tensor:
    """(T, 224, 224, 3) BGR uint8 -> (n_windows, 1024): window i = frames i..i+4, in chunks of ``chunk`` windows
    (overlapping by 4 frames) through one lip-stream pass each."""
    out = []
    for start in range(0, n_windows, chunk):
        stop = min(n_windows, start + chunk)
        clip = torch.from_numpy(frames_bgr[start:stop + WINDOW - 1]).to(device).float()  # (t, H, W, 3)
        x = clip.permute(3, 0, 1, 2).unsqueeze(0)  # (1, 3, t, H, W)
        mid = net.netcnnlip(x)  # (1, 512, t-4, 1, 1)
        mid = mid.flatten(2).squeeze(0).T  # (t-4, 512)
        out.append(net.netfclip(mid).cpu())
    return torch.cat(out) if out else torch.zeros(0, 1024)


@torch.no_grad()
def audio_embeddings(net: torch.nn.Module, mfcc: np.ndarray, n_windows: int,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """(13, M) MFCC -> (n_windows, 1024): window i = columns 4i..4i+19."""
    cc = torch.from_numpy(np.ascontiguousarray(mfcc)).float()
    idx = MFCC_PER_FRAME * torch.arange(n_windows)[:, None] + torch.arange(MFCC_WINDOW)[None, :]
    windows = cc[:, idx].permute(1, 0, 2).unsqueeze(1)  # (n, 1, 13, 20)
    return net.forward_aud(windows.to(device)).cpu()


def offset_distances(lip: torch.Tensor, aud: torch.Tensor, vshift: int = VSHIFT) -> torch.Tensor:
    """(n, D), (n, D) -> (n, 2*vshift+1): ||lip_i - aud_{i+k-vshift} + 1e-6|| (zero-padded audio), as
    syncnet-python's ``calc_pdist`` (torch pairwise_distance, eps 1e-6)."""
    padded = torch.nn.functional.pad(aud, (0, 0, vshift, vshift))  # (n + 2v, D)
    windows = padded.unfold(0, 2 * vshift + 1, 1)  # (n, D, 2v+1)
    return torch.linalg.vector_norm(lip[:, :, None] - windows + 1e-6, dim=1)


def lse_scores(net: torch.nn.Module, crops_rgb: np.ndarray, audio_int16: np.ndarray, sample_rate: int = 16000,
               device: torch.device | str = "cpu") -> dict[str, float]:
    """LSE-D, LSE-C (and the offset) of one video. Fewer than 6 usable frames -> NaN."""
    n_frames = min(len(crops_rgb), math.floor(len(audio_int16) / 640))
    n_windows = n_frames - WINDOW  # syncnet-python's lastframe = min_length - 5
    if n_windows < 1:
        return {"LSE-D": math.nan, "LSE-C": math.nan, "LSE_offset": math.nan}
    frames = prepare_frames(crops_rgb[:n_frames])
    lip = lip_embeddings(net, frames, n_windows, device)
    aud = audio_embeddings(net, mfcc_features(audio_int16, sample_rate), n_windows, device)
    mdist = offset_distances(lip, aud).mean(0)  # (31,)
    minval, minidx = torch.min(mdist, 0)
    conf = torch.median(mdist) - minval
    return {"LSE-D": float(minval), "LSE-C": float(conf), "LSE_offset": int(VSHIFT - minidx)}


def lse_full_pipeline(video: Path, audio: Path, device: torch.device | str = "cpu") -> dict[str, float]:
    """syncnet-python's full pipeline (S3FD, scenes, tracks >= 50 frames) on a video: min distance and max
    confidence over face tracks; NaN when no track qualifies."""
    from syncnet_python.syncnet_pipeline import SyncNetPipeline

    from stsa.data.video import ensure_ffmpeg_on_path
    from stsa.weights import resolve, verify

    paths = {name: resolve(name) for name in ("sfd_face", "syncnet_v2")}
    for name, path in paths.items():
        verify(name, path)
    ensure_ffmpeg_on_path()
    pipe = SyncNetPipeline(device=str(device), s3fd_weights=str(paths["sfd_face"]),
                           syncnet_weights=str(paths["syncnet_v2"]))
    offsets, confs, dists, *_ = pipe.inference(str(video), str(audio))
    if not dists:
        return {"LSE-D": math.nan, "LSE-C": math.nan, "LSE_offset": math.nan}
    best = int(np.argmin(dists))
    return {"LSE-D": float(min(dists)), "LSE-C": float(max(confs)), "LSE_offset": int(offsets[best])}


class LSE:
    """Stateful wrapper: ``update(crops, audio_int16)`` per video; ``compute()`` = mean LSE-D and LSE-C."""

    def __init__(self, weights_path: Path | None = None, device: torch.device | str = "cpu"):
        self.device = device
        self.net = build_syncnet(weights_path, device)
        self.reset()

    def reset(self) -> None:
        self.values: list[dict[str, float]] = []

    def update(self, crops_rgb: np.ndarray, audio_int16: np.ndarray, sample_rate: int = 16000) -> dict:
        v = lse_scores(self.net, crops_rgb, audio_int16, sample_rate, self.device)
        self.values.append(v)
        return v

    def compute(self) -> dict[str, float]:
        if not self.values:
            return {"LSE-D": math.nan, "LSE-C": math.nan}
        return {k: float(np.nanmean([v[k] for v in self.values])) for k in ("LSE-D", "LSE-C")}
