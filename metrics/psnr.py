"""PSNR on RGB in [0, 1] (float64), per frame, capped at 100 dB: an identical frame scores 100 dB, as in the
lineage's evaluation script (TalkLip ``evaluation/visual_quality.py``: ``if mse == 0: return 100``) instead of
+inf (skimage), so one identical frame no longer makes a video's (and a table's) PSNR infinite. At 128x128x3 uint8
the largest finite PSNR is 10 log10(255^2 * 49152) = 95.1 dB, so the cap changes identical frames only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from metrics.base import Metric

PSNR_MAX = 100.0  # dB of an identical frame


def to_unit(frames: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float64 in [0, 1]."""
    t = torch.as_tensor(np.asarray(frames)) if not isinstance(frames, torch.Tensor) else frames
    return t.to(device).permute(0, 3, 1, 2).to(torch.float64) / 255.0


def psnr_frames(pred: np.ndarray, gt: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """Per-frame PSNR (dB) of (T, H, W, 3) uint8 frames: min(10 log10(1 / MSE), 100) over all pixels and channels.

    The squared error is summed exactly in integers (uint8 differences), so the MSE is the exact value that
    float64 arithmetic on frames / 255 approximates; ``device`` is accepted for symmetry and not needed."""
    if pred.shape != gt.shape:
        raise ValueError(f"shape mismatch {pred.shape} vs {gt.shape}")
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.dtype != np.uint8 or gt.dtype != np.uint8:
        x, y = to_unit(pred, device), to_unit(gt, device)
        mse = ((x - y) ** 2).flatten(1).mean(1).cpu().numpy()  # (T,)
    else:
        d = np.subtract(pred, gt, dtype=np.int32).reshape(len(pred), -1)
        mse = np.einsum("ij,ij->i", d, d, dtype=np.int64) / (255.0 ** 2 * d.shape[1])
    with np.errstate(divide="ignore"):
        return np.minimum(10.0 * np.log10(1.0 / mse), PSNR_MAX).astype(np.float64)


def psnr_video(pred: np.ndarray, gt: np.ndarray, device: torch.device | str = "cpu") -> float:
    """Mean over frames of the per-frame PSNR (100 when every frame is identical)."""
    return float(np.mean(psnr_frames(pred, gt, device)))


class PSNR(Metric):
    """Engine: per video the mean per-frame PSNR; ``compute()`` the mean over videos."""

    name = "psnr"

    def video(self, pred: np.ndarray, gt, pred_path: Path | None = None) -> dict[str, float]:
        return {"PSNR": psnr_video(pred, gt.crops[:len(pred)], self.device)}
