"""AdaAT (Zhang et al., DINet): per-channel affine transform (scale, rotation, translation) of a feature map."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def coordinate_grid_3d(d: int, h: int, w: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """xy (d,h,w,2) and z (d,h,w) in [-1,1] (channel index as depth)."""
    def axis(n: int) -> torch.Tensor:
        r = torch.arange(n, dtype=like.dtype, device=like.device)
        return 2 * (r / max(n - 1, 1)) - 1

    x, y, z = axis(w), axis(h), axis(d)
    xy = torch.stack([x.view(1, 1, w).expand(d, h, w), y.view(1, h, 1).expand(d, h, w)], dim=-1)
    return xy, z.view(d, 1, 1).expand(d, h, w)


class AdaAT(nn.Module):
    """forward(feature (B,C,H,W), code (B,P)) -> (B,C,H,W): channel c sampled at R(theta_c) s_c p + t_c.

    Like the release it samples the (C,H,W) volume trilinearly with the channel as depth and
    align_corners=False, so neighbouring channels blend slightly.
    """

    def __init__(self, para_ch: int, feature_ch: int):
        super().__init__()
        self.para_ch, self.feature_ch = para_ch, feature_ch
        self.commn_linear = nn.Sequential(nn.Linear(para_ch, para_ch), nn.ReLU())
        self.scale = nn.Sequential(nn.Linear(para_ch, feature_ch), nn.Sigmoid())
        self.rotation = nn.Sequential(nn.Linear(para_ch, feature_ch), nn.Tanh())
        self.translation = nn.Sequential(nn.Linear(para_ch, 2 * feature_ch), nn.Tanh())

    def forward(self, feature: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        b, c, h, w = feature.shape
        code = self.commn_linear(code)
        scale = self.scale(code) * 2                                             # (B,C) in (0,2)
        angle = self.rotation(code) * 3.14159                                    # (B,C) release's pi
        cos, sin = torch.cos(angle), torch.sin(angle)
        rot = torch.stack([cos, -sin, sin, cos], dim=-1).view(b, c, 1, 1, 2, 2)  # (B,C,1,1,2,2)
        trans = self.translation(code).view(b, c, 1, 1, 2)                       # (B,C,1,1,2)
        xy, z = coordinate_grid_3d(c, h, w, feature)                             # (C,H,W,2), (C,H,W)
        grid_xy = (rot @ xy.unsqueeze(0).unsqueeze(-1)).squeeze(-1) * scale.view(b, c, 1, 1, 1) + trans
        grid = torch.cat([grid_xy, z.unsqueeze(0).unsqueeze(-1).expand(b, c, h, w, 1)], dim=-1)  # (B,C,H,W,3)
        return F.grid_sample(feature.unsqueeze(1), grid, align_corners=False).squeeze(1)

