"""Multi-scale PatchGAN discriminator (pix2pixHD style) for training the renderer (not in the release)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchDiscriminator(nn.Module):
    """(B,3,H,W) -> list of intermediate features, the last one the (B,1,h,w) patch logits."""

    def __init__(self, in_channels: int = 3, channels: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(in_channels, channels, 4, 2, 1), nn.LeakyReLU(0.2))]
        c = channels
        for i in range(1, n_layers):
            stride = 2 if i < n_layers - 1 else 1
            layers.append(nn.Sequential(nn.Conv2d(c, c * 2, 4, stride, 1), nn.InstanceNorm2d(c * 2),
                                        nn.LeakyReLU(0.2)))
            c *= 2
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


class MultiScaleDiscriminator(nn.Module):
    """`num_scales` patch discriminators on the image downsampled by 2 each time.

    forward(x) -> [features of scale s (list, last = logits) for s in scales]; use the non-final features for
    the feature-matching loss.
    """

    def __init__(self, in_channels: int = 3, channels: int = 64, n_layers: int = 3, num_scales: int = 2):
        super().__init__()
        self.discriminators = nn.ModuleList([PatchDiscriminator(in_channels, channels, n_layers)
                                             for _ in range(num_scales)])

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for i, d in enumerate(self.discriminators):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            out.append(d(x))
        return out
