"""FID: pytorch-fid's InceptionV3 pool3 (2048-d) features of all frames of a method vs all ground-truth frames,
Frechet distance of the two Gaussians: the value of pytorch-fid's ``calculate_frechet_distance``, with the trace
of sqrtm(S1 S2) taken from the eigenvalues of sqrt(S1) S2 sqrt(S1) (symmetric, so ``eigh``: ~1 s instead of a
minute for scipy's sqrtm on 2048x2048; equal up to rounding, see the tests). Weights ``pt_inception``
(pt_inception-2015-12-05-6726825d.pth) through ``stsa.weights``; never downloaded at run time."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import torch

from metrics.base import Metric


def build_inception(weights_path: Path | None = None, device: torch.device | str = "cpu") -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3([pool3])`` (resize to 299, inputs in [0, 1]) with verified ``pt_inception``."""
    from pytorch_fid import inception

    from stsa.weights import load_state_dict

    state = load_state_dict("pt_inception", weights_path)
    # pytorch-fid builds the FID Inception and loads its weights through load_state_dict_from_url: hand it ours
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state):
        model = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    return model.to(device).eval()


@torch.no_grad()
def inception_features(model: torch.nn.Module, frames: np.ndarray, device: torch.device | str = "cpu",
                       batch: int = 50) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (N, 2048) float32 pool3 activations (inputs /255, as pytorch-fid's ToTensor)."""
    out = []
    for i in range(0, len(frames), batch):
        x = torch.from_numpy(np.ascontiguousarray(frames[i:i + batch])).to(device)
        x = x.permute(0, 3, 1, 2).contiguous().float() / 255.0  # (B, 3, H, W); contiguous as pytorch-fid's ToTensor
        # (a channels-last input takes another convolution path: features differ by ~1e-4)
        out.append(model(x)[0].squeeze(3).squeeze(2).cpu().numpy())  # (B, 2048)
    return np.concatenate(out) if out else np.zeros((0, 2048), np.float32)


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2048) -> mean (2048,), covariance (2048, 2048) as pytorch-fid (np.cov, rowvar=False)."""
    return np.mean(features, axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)), in float64."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    w1, v1 = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v1 * np.sqrt(np.clip(w1, 0, None))) @ v1.T  # sqrt(S1), symmetric PSD
    m = root1 @ s2 @ root1  # similar to S1 S2: same eigenvalues, but symmetric
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def fid_from_features(pred: np.ndarray, gt: np.ndarray) -> float:
    """FID of two feature sets (NaN with fewer than 2 frames on either side)."""
    if len(pred) < 2 or len(gt) < 2:
        return float("nan")
    return frechet_distance(*statistics(pred), *statistics(gt))


class FID(Metric):
    """Engine: ``update(pred, gt)`` keeps the Inception features of the predicted frames and of all the ground
    truth's frames (cached per clip); ``compute()`` the distance of all predicted frames vs all ground-truth frames
    of the videos seen. A dataset metric: no per-video value."""

    name = "fid"

    def __init__(self, device="cpu", cache=None):
        super().__init__(device, cache)
        self.model = build_inception(device=device)

    def reset(self) -> None:
        super().reset()
        self.pred: list[np.ndarray] = []
        self.gt: list[np.ndarray] = []

    def video(self, pred: np.ndarray, gt, pred_path: Path | None = None) -> dict[str, float]:
        feats = self.cache.get("inception", gt, lambda: {"features": inception_features(self.model, gt.crops,
                                                                                       self.device)})
        self.gt.append(feats["features"])
        self.pred.append(inception_features(self.model, pred, self.device))
        return {}

    def compute(self) -> dict[str, float]:
        if not self.pred:
            return {"FID": float("nan")}
        return {"FID": fid_from_features(np.concatenate(self.pred), np.concatenate(self.gt))}
