"""SPADE conditioning on a spatial map (heatmap or fused features)."""

from __future__ import annotations

import torch
from torch import nn


class SPADELayer(nn.Module):
    """forward(x (B,C,H,W), m (B,M,H,W)) -> IN(x) * (1 + gamma(m)) + beta(m)."""

    def __init__(self, channels: int, modulation_nc: int, hidden: int = 256):
        super().__init__()
        self.instance_norm = nn.InstanceNorm2d(channels)
        self.conv1 = nn.Conv2d(modulation_nc, hidden, 3, 1, 1)     # no activation, as in the release
        self.gamma = nn.Conv2d(hidden, channels, 3, 1, 1)
        self.beta = nn.Conv2d(hidden, channels, 3, 1, 1)

    def modulation(self, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(gamma, beta), each (B,C,H,W); depends on m only, so callers may reuse it."""
        h = self.conv1(m)
        return self.gamma(h), self.beta(h)

    def forward(self, x: torch.Tensor, m: torch.Tensor | None = None,
                mod: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        gamma, beta = self.modulation(m) if mod is None else mod
        norm = self.instance_norm(x)
        return norm + norm * gamma + beta


class SPADE(nn.Module):
    """Two (SPADE -> LeakyReLU(0.2) -> conv3x3) steps. (B,C,H,W), (B,M,H,W) -> (B,C,H,W)"""

    def __init__(self, num_channel: int, num_channel_modulation: int, hidden_size: int = 256):
        super().__init__()
        self.conv_1 = nn.Conv2d(num_channel, num_channel, 3, 1, 1)
        self.conv_2 = nn.Conv2d(num_channel, num_channel, 3, 1, 1)
        self.leaky_relu = nn.LeakyReLU(0.2)
        self.spade_layer_1 = SPADELayer(num_channel, num_channel_modulation, hidden_size)
        self.spade_layer_2 = SPADELayer(num_channel, num_channel_modulation, hidden_size)

    def modulation(self, m: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Both layers' (gamma, beta) for map m, to reuse across inputs modulated by the same map."""
        return [self.spade_layer_1.modulation(m), self.spade_layer_2.modulation(m)]

    def forward(self, x: torch.Tensor, m: torch.Tensor | None = None,
                mod: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> torch.Tensor:
        mod = self.modulation(m) if mod is None else mod
        x = self.conv_1(self.leaky_relu(self.spade_layer_1(x, mod=mod[0])))
        return self.conv_2(self.leaky_relu(self.spade_layer_2(x, mod=mod[1])))
