"""DME, Dynamic Motion Error (Yifever20002/Dyco ``core/utils/DME_util.py``): optical flow between consecutive
frames of the ground truth and of the prediction; pixels where the ground-truth flow moves more than 1 px
(Dyco's test: |u| + |v| > 1); mean end-point error ||f_gt - f_pred||_2 there, per frame pair; pairs without any
moving pixel are left out (as Dyco). At 128x128 crops, in pixels. A video's value is the mean over its pairs; the
table value pools every pair of every video, as Dyco's ``DME_Computer.finalize`` (``np.mean`` of one list of
all pairs), not a mean of per-video means.

Backends: "raft" = torchvision RAFT-large with ``raft_large`` weights (Raft_Large_Weights.C_T_V1, the original
RAFT raft-things model Dyco uses), 20 refinement iterations as Dyco, inputs scaled to [-1, 1]; "dis" = OpenCV
DIS (``cv2.DISOpticalFlow_create(PRESET_MEDIUM)`` on grayscale), no weights. Dyco's black-background mask (for
rendered bodies) does not apply to face crops and is not used.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metrics.base import Metric

MOTION_THRESHOLD = 1.0
RAFT_ITERS = 20


def build_raft(weights_path: Path | None = None, device: torch.device | str = "cpu") -> torch.nn.Module:
    from torchvision.models.optical_flow import raft_large

    from stsa.weights import load_state_dict

    model = raft_large(weights=None, progress=False)
    model.load_state_dict(load_state_dict("raft_large", weights_path))
    return model.to(device).eval()


@torch.no_grad()
def flows_raft(model: torch.nn.Module, frames: np.ndarray, device: torch.device | str = "cpu",
               batch: int = 16, iters: int = RAFT_ITERS) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T-1, 2, H, W) float32 flow from frame t to t+1 (H, W multiples of 8)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1  # (T, 3, H, W)
    out = []
    for i in range(0, len(frames) - 1, batch):
        a = x[i:i + batch + 1]
        out.append(model(a[:-1].to(device), a[1:].to(device), num_flow_updates=iters)[-1].cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 2, *frames.shape[1:3]), np.float32)


def flows_dis(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T-1, 2, H, W) float32 DIS flow from frame t to t+1."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    flows = [dis.calc(a, b, None) for a, b in zip(gray[:-1], gray[1:], strict=True)]  # (H, W, 2) each
    return np.stack(flows).transpose(0, 3, 1, 2) if flows else np.zeros((0, 2, *frames.shape[1:3]), np.float32)


def pair_errors(gt_flow: np.ndarray, pred_flow: np.ndarray) -> np.ndarray:
    """(P, 2, H, W) x2 -> (U,) mean EPE over the moving pixels of each pair with any (U <= P)."""
    moving = np.abs(gt_flow).sum(axis=1) > MOTION_THRESHOLD  # (P, H, W)
    epe = np.linalg.norm(gt_flow.astype(np.float64) - pred_flow, axis=1)  # (P, H, W)
    return np.array([e[m].mean() for e, m in zip(epe, moving, strict=True) if m.any()], np.float64)


def dme_from_flows(gt_flow: np.ndarray, pred_flow: np.ndarray) -> tuple[float, int]:
    """(P, 2, H, W) x2 -> (mean over pairs of the masked EPE, number of pairs used)."""
    errors = pair_errors(gt_flow, pred_flow)
    return (float(errors.mean()) if len(errors) else math.nan), len(errors)


class DME(Metric):
    """Engine (RAFT): per video the mean masked EPE over its pairs (GT flows cached per clip); ``compute()`` the
    mean over all pairs of all videos seen (Dyco's pooling)."""

    name = "dme"
    backend = "raft"

    def __init__(self, device="cpu", cache=None, **options: Any):
        super().__init__(device, cache, **options)
        self.model = build_raft(device=device) if self.backend == "raft" else None

    def flows(self, frames: np.ndarray) -> np.ndarray:
        """(T, H, W, 3) uint8 RGB -> (T-1, 2, H, W) flows of this backend."""
        if self.model is None:
            return flows_dis(frames)
        return flows_raft(self.model, frames, self.device, iters=self.options["raft_iters"])

    def reset(self) -> None:
        super().reset()
        self.errors: list[np.ndarray] = []

    def video(self, pred: np.ndarray, gt, pred_path: Path | None = None) -> dict[str, float]:
        g = self.cache.get(f"flow_{self.backend}", gt, lambda: {"flow": self.flows(gt.crops)})
        gt_flow = g["flow"][:max(len(pred) - 1, 0)]  # (n-1, 2, H, W) float32
        errors = pair_errors(gt_flow, self.flows(pred))
        self.errors.append(errors)
        return {self.spec.columns[0].name: float(errors.mean()) if len(errors) else math.nan}

    def compute(self) -> dict[str, float]:
        pooled = np.concatenate(self.errors) if self.errors else np.zeros(0)
        return {self.spec.columns[0].name: float(pooled.mean()) if len(pooled) else math.nan}


class DMEDis(DME):
    """Engine (OpenCV DIS flow, no weights): as DME."""

    name = "dme_dis"
    backend = "dis"
