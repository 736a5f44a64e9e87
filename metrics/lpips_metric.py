"""LPIPS (lpips package, net='alex', version 0.1): the linear layers ship with the package; the AlexNet backbone
(torchvision ``alexnet-owt-7be5be79.pth``) is loaded through ``stsa.weights`` (never downloaded, never random
for real numbers). Inputs RGB scaled to [-1, 1]; per frame, mean over frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from metrics.base import Metric


def build_lpips(weights_path: Path | None = None, device: torch.device | str = "cpu") -> torch.nn.Module:
    """``lpips.LPIPS(net='alex')`` with its backbone slices filled from the verified ``alexnet`` state dict."""
    import lpips

    from stsa.weights import load_state_dict

    state = load_state_dict("alexnet", weights_path)  # torchvision keys: features.<i>.weight/bias, classifier...
    model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)  # lin layers from package
    backbone = {}
    for key in model.net.state_dict():  # slice<k>.<i>.<param>, <i> = index into alexnet.features
        _, idx, param = key.split(".")
        backbone[key] = state[f"features.{idx}.{param}"]
    model.net.load_state_dict(backbone, strict=True)
    return model.to(device).eval()


@torch.no_grad()
def lpips_frames(model: torch.nn.Module, pred: np.ndarray, gt: np.ndarray, device: torch.device | str = "cpu",
                 batch: int = 64) -> np.ndarray:
    """Per-frame LPIPS of (T, H, W, 3) uint8 frames -> (T,) float64."""
    if pred.shape != gt.shape:
        raise ValueError(f"shape mismatch {pred.shape} vs {gt.shape}")
    out = []
    for i in range(0, len(pred), batch):
        x = torch.from_numpy(np.ascontiguousarray(pred[i:i + batch])).to(device).permute(0, 3, 1, 2).float()
        y = torch.from_numpy(np.ascontiguousarray(gt[i:i + batch])).to(device).permute(0, 3, 1, 2).float()
        out.append(model(x / 127.5 - 1, y / 127.5 - 1).flatten().double().cpu().numpy())  # (B,)
    return np.concatenate(out) if out else np.zeros(0)


class LPIPS(Metric):
    """Engine: per video the mean per-frame LPIPS; ``compute()`` the mean over videos."""

    name = "lpips"

    def __init__(self, device="cpu", cache=None):
        super().__init__(device, cache)
        self.model = build_lpips(device=device)

    def video(self, pred: np.ndarray, gt, pred_path: Path | None = None) -> dict[str, float]:
        return {"LPIPS": float(np.mean(lpips_frames(self.model, pred, gt.crops[:len(pred)], self.device)))}
