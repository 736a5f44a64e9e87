"""Fusion of the spatial and temporal paths per scale: concat -> two conv-BN-ReLU blocks.

The release uses 3x3 convolutions (kernel=3); the paper describes 1x1 (kernel=1).
With a single path (ablation) the block just maps that path's features.
"""

from __future__ import annotations

from torch import nn

from stsa.modules.conv_blocks import SameBlock2d


def fusion_block(in_channels: int, out_channels: int, kernel: int = 3) -> nn.Sequential:
    """(B, in, H, W) -> (B, out, H, W)."""
    pad = kernel // 2
    return nn.Sequential(SameBlock2d(in_channels, out_channels, kernel_size=kernel, padding=pad),
                         SameBlock2d(out_channels, out_channels, kernel_size=kernel, padding=pad))
