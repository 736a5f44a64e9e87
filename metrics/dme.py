"""DME, Dynamic Motion Error (Yifever20002/Dyco ``core/utils/DME_util.py``): optical flow between consecutive
frames of the ground truth and of the prediction; pixels where the ground-truth flow moves more than 1 px
(Dyco's test: |u| + |v| > 1); mean end-point error ||f_gt - f_pred||_2 there, per frame pair; pairs without any
moving pixel are left out (as Dyco); mean over pairs of a video. At 128x128 crops, in pixels.

Backends: "raft" = torchvision RAFT-large with ``raft_large`` weights (Raft_Large_Weights.C_T_V1, the original
RAFT raft-things model Dyco uses), 20 refinement iterations as Dyco, inputs scaled to [-1, 1]; "dis" = OpenCV
DIS (``cv2.DISOpticalFlow_create(PRESET_MEDIUM)`` on grayscale), no weights. Dyco's black-background mask (for
rendered bodies) does not apply to face crops and is not used.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

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


def dme_from_flows(gt_flow: np.ndarray, pred_flow: np.ndarray) -> tuple[float, int]:
    """(P, 2, H, W) x2 -> (mean over pairs of the masked EPE, number of pairs used)."""
    moving = np.abs(gt_flow).sum(axis=1) > MOTION_THRESHOLD  # (P, H, W)
    epe = np.linalg.norm(gt_flow.astype(np.float64) - pred_flow, axis=1)  # (P, H, W)
    per_pair = [float(e[m].mean()) for e, m in zip(epe, moving, strict=True) if m.any()]
    return (float(np.mean(per_pair)) if per_pair else math.nan), len(per_pair)


class DME:
    """Stateful wrapper: ``update(pred, gt)`` per video; ``compute()`` = mean over videos."""

    def __init__(self, backend: str = "raft", weights_path: Path | None = None,
                 device: torch.device | str = "cpu", raft_iters: int = RAFT_ITERS):
        if backend not in ("raft", "dis"):
            raise ValueError(f"DME backend must be raft or dis, not {backend!r}")
        self.backend, self.device, self.raft_iters = backend, device, raft_iters
        self.model = build_raft(weights_path, device) if backend == "raft" else None
        self.reset()

    def flows(self, frames: np.ndarray) -> np.ndarray:
        if self.model is None:
            return flows_dis(frames)
        return flows_raft(self.model, frames, self.device, iters=self.raft_iters)

    def reset(self) -> None:
        self.values: list[float] = []

    def update(self, pred: np.ndarray, gt: np.ndarray) -> float:
        v, _ = dme_from_flows(self.flows(gt), self.flows(pred))
        self.values.append(v)
        return v

    def compute(self) -> float:
        vals = [v for v in self.values if not math.isnan(v)]
        return float(np.mean(vals)) if vals else math.nan
