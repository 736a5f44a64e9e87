"""AdaIN conditioning on the audio code: instance norm, then per-channel scale / shift from an MLP."""

from __future__ import annotations

import torch
from torch import nn


class AdaINLayer(nn.Module):
    """forward(x (B,C,H,W), code (B,M,...)) -> IN(x) * (1 + gamma) + beta."""

    def __init__(self, input_nc: int, modulation_nc: int, hidden: int = 128):
        super().__init__()
        self.InstanceNorm2d = nn.InstanceNorm2d(input_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Linear(modulation_nc, hidden), nn.ReLU())
        self.mlp_gamma = nn.Linear(hidden, input_nc)
        self.mlp_beta = nn.Linear(hidden, input_nc)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        actv = self.mlp_shared(code.reshape(code.size(0), -1))              # (B,hidden)
        gamma = self.mlp_gamma(actv)[:, :, None, None]                      # (B,C,1,1)
        beta = self.mlp_beta(actv)[:, :, None, None]
        return self.InstanceNorm2d(x) * (1 + gamma) + beta


class AdaIN(nn.Module):
    """Two (AdaIN -> LeakyReLU(0.2) -> conv3x3) steps. (B,C,H,W), (B,M,..) -> (B,C,H,W)"""

    def __init__(self, channels: int, modulation_nc: int, hidden: int = 128):
        super().__init__()
        self.conv_1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.conv_2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.leaky_relu = nn.LeakyReLU(0.2)
        self.adain_layer_1 = AdaINLayer(channels, modulation_nc, hidden)
        self.adain_layer_2 = AdaINLayer(channels, modulation_nc, hidden)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        x = self.conv_1(self.leaky_relu(self.adain_layer_1(x, code)))
        return self.conv_2(self.leaky_relu(self.adain_layer_2(x, code)))
