"""Face generator (release: TranslationNetwork): encodes [masked face | target heatmap], decodes with SPADE on
the fused reference features and AdaIN on the audio code, pixel-shuffle upsampling, sigmoid output."""

from __future__ import annotations

import torch
from torch import nn

from stsa.modules.adain import AdaIN
from stsa.modules.spade import SPADE


class TranslationNetwork(nn.Module):
    """forward(x (B,6,128,128), fused [(B,f128,128,128), (B,f64,64,64), (B,f32,32,32)], audio (B,Ca,1))
    -> image (B,3,128,128) in [0,1]."""

    def __init__(self, channels: tuple[int, int, int] = (32, 128, 512), feat: tuple[int, int, int] = (32, 128, 256),
                 audio_channels: int = 128, spade_hidden: int = 256, adain_hidden: int = 128):
        super().__init__()
        t128, t64, t32 = channels
        f128, f64, f32 = feat
        self.conv1 = nn.Conv2d(6, t128, kernel_size=7, stride=1, padding=3, bias=False)
        self.conv1_bn = nn.BatchNorm2d(t128)
        self.conv1_relu = nn.ReLU()
        self.conv2 = nn.Conv2d(t128, t64, kernel_size=3, stride=2, padding=1, bias=False)
        self.conv2_bn = nn.BatchNorm2d(t64)
        self.conv2_relu = nn.ReLU()
        self.conv3 = nn.Conv2d(t64, t32, kernel_size=3, stride=2, padding=1, bias=False)
        self.conv3_bn = nn.BatchNorm2d(t32)
        self.conv3_relu = nn.ReLU()
        self.spade_1 = SPADE(t32, f32, spade_hidden)
        self.adain_1 = AdaIN(t32, audio_channels, adain_hidden)
        self.pixel_suffle_1 = nn.PixelShuffle(2)
        self.spade_2 = SPADE(t64, f64, spade_hidden)
        self.adain_2 = AdaIN(t64, audio_channels, adain_hidden)
        self.pixel_suffle_2 = nn.PixelShuffle(2)
        self.spade_3 = SPADE(t128, f128, spade_hidden)
        self.adain_3 = AdaIN(t128, audio_channels, adain_hidden)
        self.leaky_relu = nn.LeakyReLU()
        self.conv_last = nn.Conv2d(t128, 3, kernel_size=7, stride=1, padding=3, bias=False)
        self.Sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor, fused: list[torch.Tensor], audio: torch.Tensor) -> torch.Tensor:
        code = audio.permute(0, 2, 1)                                             # (B,1,Ca)
        x = self.conv1_relu(self.conv1_bn(self.conv1(x)))                         # (B,t128,128,128)
        x = self.conv2_relu(self.conv2_bn(self.conv2(x)))                         # (B,t64,64,64)
        x = self.conv3_relu(self.conv3_bn(self.conv3(x)))                         # (B,t32,32,32)
        x = self.pixel_suffle_1(self.adain_1(self.spade_1(x, fused[2]), code))    # (B,t64,64,64)
        x = self.pixel_suffle_2(self.adain_2(self.spade_2(x, fused[1]), code))    # (B,t128,128,128)
        x = self.adain_3(self.spade_3(x, fused[0]), code)                         # (B,t128,128,128)
        return self.Sigmoid(self.conv_last(self.leaky_relu(x)))                   # (B,3,128,128)
