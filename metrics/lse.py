"""LSE-D / LSE-C with SyncNet (syncnet-python's network ``SyncNetModel.S``, weights ``syncnet_v2``).

Core (every protocol): frames as BGR uint8 resized to 224 (cv2 bilinear); MFCC by python_speech_features defaults
on 16 kHz int16 audio; 5-frame video windows vs 20 MFCC columns (4 per frame); distances at offsets -15..+15
(vshift 15), mean over windows per offset; LSE-D = min, LSE-C = median - min. Identical to syncnet-python's
``SyncNetInstance.evaluate`` (see the tests), but all windows in a few network calls and distances vectorised:
the lip stream's only temporal kernel is the first Conv3d (5 frames), so running the network once over the whole
clip yields every 5-frame window's embedding without copying windows.

Protocols (option ``lse_protocol``), i.e. which frames and which audio:
- "wav2lip_lrs": Wav2Lip's ``evaluation/scores_LSE/calculate_scores_LRS.py`` (the lineage's; the paper preset's):
  the **whole generated frame**, extracted by ffmpeg as JPEG (``-f image2``) and read by cv2, resized to 224, and
  the **generated video's own audio** (ffmpeg ``-async 1 -ac 1 -vn -acodec pcm_s16le -ar 16000``); all its frames.
- "crops": the prediction's 128x128 face crops (ground-truth boxes) and the ground truth's ``audio.wav``, the
  frames the other metrics compare, no JPEG step.
- "full": syncnet-python's own pipeline (S3FD detection, scene cuts, face tracks >= 50 frames, crops) on the
  prediction video with the ground truth's audio; needs ``sfd_face`` too. Min distance / max confidence over
  tracks.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metrics.base import Metric

VSHIFT, WINDOW, MFCC_PER_FRAME, MFCC_WINDOW, SIZE = 15, 5, 4, 20, 224
FULL_WEIGHTS = ("sfd_face", "syncnet_v2")


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


def read_audio_16k(path: Path) -> np.ndarray:
    """int16 samples of a 16 kHz wav; MediaError naming the file otherwise."""
    from stsa.errors import MediaError

    audio, rate = read_wav_int16(path)
    if rate != 16000:
        raise MediaError(path, f"audio at {rate} Hz, LSE needs 16 kHz", "re-run preprocessing")
    return audio


def prepare_frames(frames_rgb: np.ndarray) -> np.ndarray:
    """(T, h, w, 3) uint8 RGB -> (T, 224, 224, 3) uint8 BGR (cv2 bilinear resize, as Wav2Lip's script)."""
    import cv2

    out = [cv2.resize(np.ascontiguousarray(f[..., ::-1]), (SIZE, SIZE)) for f in frames_rgb]
    return np.stack(out) if out else np.zeros((0, SIZE, SIZE, 3), np.uint8)


def wav2lip_lrs_inputs(video: Path) -> tuple[np.ndarray, np.ndarray]:
    """The inputs of Wav2Lip's ``calculate_scores_LRS.py`` for one generated video: every frame as ffmpeg's JPEG
    read back by cv2 and resized to 224 -> (T, 224, 224, 3) uint8 BGR, and the video's own audio track as 16 kHz
    mono int16. A video without an audio track raises MediaError (this protocol scores the video's own audio)."""
    import cv2

    from stsa.data.video import probe, run_ffmpeg
    from stsa.errors import MediaError

    if not probe(video).has_audio:
        raise MediaError(video, "no audio track: the wav2lip_lrs LSE protocol scores the generated video's own audio",
                         "mux the driving audio into the output, or use lse_protocol crops")
    with tempfile.TemporaryDirectory(prefix="stsa-lse-") as tmp:
        run_ffmpeg(["-i", str(video), "-threads", "1", "-f", "image2", f"{tmp}/%06d.jpg"], video)
        run_ffmpeg(["-i", str(video), "-async", "1", "-ac", "1", "-vn", "-acodec", "pcm_s16le", "-ar", "16000",
                    f"{tmp}/audio.wav"], video)
        frames = [cv2.resize(cv2.imread(str(p)), (SIZE, SIZE)) for p in sorted(Path(tmp).glob("*.jpg"))]
        audio, _ = read_wav_int16(Path(tmp) / "audio.wav")
    if not frames:
        raise MediaError(video, "ffmpeg extracted no frames", "check the file plays in a media player")
    return np.stack(frames), audio


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
    """LSE-D, LSE-C (and the offset) of one video's RGB frames (any size). Fewer than 6 usable frames -> NaN."""
    n_frames = min(len(crops_rgb), math.floor(len(audio_int16) / 640))
    return lse_scores_bgr(net, prepare_frames(crops_rgb[:n_frames]), audio_int16, sample_rate, device)


def lse_scores_bgr(net: torch.nn.Module, frames_bgr: np.ndarray, audio_int16: np.ndarray, sample_rate: int = 16000,
                   device: torch.device | str = "cpu") -> dict[str, float]:
    """LSE-D, LSE-C (and the offset) of (T, 224, 224, 3) BGR frames. Fewer than 6 usable frames -> NaN."""
    n_frames = min(len(frames_bgr), math.floor(len(audio_int16) / 640))
    n_windows = n_frames - WINDOW  # syncnet-python's lastframe = min_length - 5
    if n_windows < 1:
        return {"LSE-D": math.nan, "LSE-C": math.nan, "LSE_offset": math.nan}
    frames = np.ascontiguousarray(frames_bgr[:n_frames])
    lip = lip_embeddings(net, frames, n_windows, device)
    aud = audio_embeddings(net, mfcc_features(audio_int16, sample_rate), n_windows, device)
    mdist = offset_distances(lip, aud).mean(0)  # (31,)
    minval, minidx = torch.min(mdist, 0)
    conf = torch.median(mdist) - minval
    return {"LSE-D": float(minval), "LSE-C": float(conf), "LSE_offset": int(VSHIFT - minidx)}


def full_pipeline(device: torch.device | str = "cpu"):
    """syncnet-python's ``SyncNetPipeline`` with verified ``sfd_face`` and ``syncnet_v2``."""
    from syncnet_python.syncnet_pipeline import SyncNetPipeline

    from stsa.data.video import ensure_ffmpeg_on_path
    from stsa.weights import resolve, verify

    paths = {name: resolve(name) for name in FULL_WEIGHTS}
    for name, path in paths.items():
        verify(name, path)
    ensure_ffmpeg_on_path()
    return SyncNetPipeline(device=str(device), s3fd_weights=str(paths["sfd_face"]),
                           syncnet_weights=str(paths["syncnet_v2"]))


def lse_full_pipeline(video: Path, audio: Path, device: torch.device | str = "cpu", pipe=None) -> dict[str, float]:
    """syncnet-python's full pipeline (S3FD, scenes, tracks >= 50 frames) on a video: min distance and max
    confidence over face tracks; NaN when no track qualifies."""
    pipe = pipe if pipe is not None else full_pipeline(device)
    offsets, confs, dists, *_ = pipe.inference(str(video), str(audio))
    if not dists:
        return {"LSE-D": math.nan, "LSE-C": math.nan, "LSE_offset": math.nan}
    best = int(np.argmin(dists))
    return {"LSE-D": float(min(dists)), "LSE-C": float(max(confs)), "LSE_offset": int(offsets[best])}


class LSE(Metric):
    """Engine: per video LSE-D, LSE-C and the offset under ``lse_protocol``; ``compute()`` the means over videos.
    The crops protocol reads the ground truth's audio (``gt.audio`` or its ``audio.wav``); wav2lip_lrs and full
    read the prediction's video file (``pred_path``)."""

    name = "lse"

    def __init__(self, device="cpu", cache=None, lse_protocol: str | None = None):
        super().__init__(device, cache, lse_protocol=lse_protocol)
        self.protocol = self.options["lse_protocol"]
        if self.protocol == "full":
            self.pipe = full_pipeline(device)
        else:
            self.net = build_syncnet(device=device)

    def required_weights(self) -> tuple[str, ...]:
        return FULL_WEIGHTS if self.protocol == "full" else self.spec.weights

    def video(self, pred: np.ndarray, gt, pred_path: Path | None = None) -> dict[str, Any]:
        if self.protocol == "crops":
            audio = gt.audio if gt.audio is not None else read_audio_16k(gt.audio_path)
            return lse_scores(self.net, pred, audio, 16000, self.device)
        if pred_path is None:
            raise ValueError(f"lse_protocol {self.protocol} reads the prediction's video file: pass pred_path")
        if self.protocol == "wav2lip_lrs":
            frames, audio = wav2lip_lrs_inputs(Path(pred_path))
            return lse_scores_bgr(self.net, frames, audio, 16000, self.device)
        return lse_full_pipeline(Path(pred_path), gt.audio_path, self.device, self.pipe)
