"""Heatmap encoders (pose / reference / lip / jaw) and the lip + jaw keypoint heads of stage 1."""

from __future__ import annotations

import torch
from torch import nn

from stsa.modules.conv_blocks import Conv2dBlock


def heatmap_encoder(channels: tuple[int, int, int, int], d_model: int) -> nn.Sequential:
    """(B,1,128,128) heatmap -> (B, d_model, 1, 1), tanh. 128 -s2-> 64 -s3-> 22 -s3-> 8 -s3-> 3 -k3-> 1."""
    c1, c2, c3, c4 = channels
    return nn.Sequential(
        Conv2dBlock(1, c1, 3, 2, 1),                                            # (c1, 64, 64)
        Conv2dBlock(c1, c1, 3, 1, 1, residual=True),
        Conv2dBlock(c1, c1, 3, 1, 1, residual=True),
        Conv2dBlock(c1, c2, 3, 3, 1),                                           # (c2, 22, 22)
        Conv2dBlock(c2, c2, 3, 1, 1, residual=True),
        Conv2dBlock(c2, c2, 3, 1, 1, residual=True),
        Conv2dBlock(c2, c3, 3, 3, 1),                                           # (c3, 8, 8)
        Conv2dBlock(c3, c3, 3, 1, 1, residual=True),
        Conv2dBlock(c3, c3, 3, 1, 1, residual=True),
        Conv2dBlock(c3, c4, 3, 3, 1),                                           # (c4, 3, 3)
        Conv2dBlock(c4, c4, 3, 1, 1, residual=True),
        Conv2dBlock(c4, d_model, 3, 1, 0),                                      # (D, 1, 1)
        Conv2dBlock(d_model, d_model, 1, 1, 0, act="tanh"),
    )


def content_landmarks(jaw_points: torch.Tensor, lip_points: torch.Tensor) -> torch.Tensor:
    """(B*T, 2*n_jaw) and (B*T, 2*n_lip) head outputs (x,y interleaved) -> (B*T, 2, n_jaw+n_lip), jaw first."""
    flat = torch.cat([jaw_points, lip_points], dim=1)                        # (B*T, 2K)
    return flat.reshape(flat.size(0), -1, 2).permute(0, 2, 1)                # (B*T, 2, K)
