"""PSNR on RGB in [0, 1] (float64), per frame; identical frames give +inf."""

from __future__ import annotations

import numpy as np
import torch


def to_unit(frames: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float64 in [0, 1]."""
    t = torch.as_tensor(np.asarray(frames)) if not isinstance(frames, torch.Tensor) else frames
    return t.to(device).permute(0, 3, 1, 2).to(torch.float64) / 255.0


def psnr_frames(pred: np.ndarray, gt: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """Per-frame PSNR (dB) of (T, H, W, 3) uint8 frames: 10 log10(1 / MSE) over all pixels and channels.

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
        return (10.0 * np.log10(1.0 / mse)).astype(np.float64)


def psnr_video(pred: np.ndarray, gt: np.ndarray, device: torch.device | str = "cpu") -> float:
    """Mean over frames of the per-frame PSNR (inf when every frame is identical)."""
    return float(np.mean(psnr_frames(pred, gt, device)))


class PSNR:
    """Stateful wrapper: ``update(pred, gt)`` per video, ``compute()`` = mean over videos."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.values: list[float] = []

    def update(self, pred: np.ndarray, gt: np.ndarray) -> float:
        v = psnr_video(pred, gt)
        self.values.append(v)
        return v

    def compute(self) -> float:
        return float(np.mean(self.values)) if self.values else float("nan")
