"""Per-metric engines used by the evaluator: set up once (weights loaded), then
``video(pred, gt) -> {col: v}``; engines with dataset-level results (FID)
also have ``aggregate(gt_clips)``."""

from __future__ import annotations

from typing import Any

import numpy as np


class PSNREngine:
    def __init__(self, device, cache, options):
        self.device = device

    def video(self, pred: np.ndarray, gt) -> dict[str, Any]:
        from metrics.psnr import psnr_video

        return {"PSNR": psnr_video(pred, gt.crops, self.device)}


class SSIMEngine:
    def __init__(self, device, cache, options):
        self.device = device

    def video(self, pred: np.ndarray, gt) -> dict[str, Any]:
        from metrics.ssim import ssim_video

        return {"SSIM": ssim_video(pred, gt.crops, self.device)}


ENGINES: dict[str, type] = {"psnr": PSNREngine, "ssim": SSIMEngine}


def build(name: str, device, cache, options: dict[str, Any]):
    """Engine for metric ``name``; raises (e.g. WeightsError) when it cannot run."""
    if name not in ENGINES:
        raise NotImplementedError(f"metric {name} is not implemented in this version of the evaluator")
    return ENGINES[name](device, cache, options)
