"""Cross-path information learning (CIL): per-scale pooled embeddings of the spatial and temporal paths and a
MINE statistics network (256-128-128-1) giving the Donsker-Varadhan lower bound on their mutual information:

    I(X;Y) >= E_joint[T(x,y)] - log E_marginal[exp T(x,y')],  y' = y of a shuffled batch.

The release's loss is -(mean over the 3 scales of this bound); `RendererOutput.mi_lower_bound` is the sum.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ChannelAlign(nn.Module):
    """1x1 conv + BN to the common embedding width. (B,C,H,W) -> (B,D,H,W)"""

    def __init__(self, in_channels: int, out_channels: int = 128):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class MINE(nn.Module):
    """Statistics network T(x,y): (B,D), (B,D) -> (B,1)."""

    def __init__(self, input_size: int = 256, hidden_size: int = 128):
        super().__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.fc3 = nn.Linear(hidden_size, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for fc in (self.fc1, self.fc2, self.fc3):
            nn.init.normal_(fc.weight, std=0.02)
            nn.init.constant_(fc.bias, 0)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.elu(self.fc1(torch.cat([x, y], dim=1)))
        return self.fc3(F.elu(self.fc2(h)))


def dv_bound(joint: torch.Tensor, marginal: torch.Tensor) -> torch.Tensor:
    """Donsker-Varadhan bound mean(joint) - log mean exp(marginal), via logsumexp for stability. -> scalar"""
    n = marginal.numel()
    return joint.mean() - (torch.logsumexp(marginal.flatten(), dim=0) - math.log(n))


def embed(align: nn.Module, feat: torch.Tensor) -> torch.Tensor:
    """(B,C,H,W) -> pooled (B,D) embedding."""
    return align(feat).mean(dim=(2, 3))


def cil_bounds(mine: MINE, xs: list[torch.Tensor], ys: list[torch.Tensor],
               perm: torch.Tensor | None = None, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Per-scale DV bounds for embeddings xs[i], ys[i] (B,D); marginals pair x with y[perm] (one fresh
    random permutation per scale unless `perm` is given)."""
    out = []
    for x, y in zip(xs, ys, strict=True):
        p = perm if perm is not None else torch.randperm(y.size(0), generator=generator).to(y.device)
        out.append(dv_bound(mine(x, y), mine(x, y[p])))
    return out
