"""Coupled lip / jaw heatmap decoder with message passing at 8x8 and pose injection at 32x32."""

from __future__ import annotations

import torch
from torch import nn

from stsa.modules.conv_blocks import Conv2dBlock, ConvT2dBlock


def _branch(c: int, out: int) -> list[nn.Module]:
    """1x1 -> 4 -> 8 -> 16 -> 32 -> 64 -> 128 transposed-conv stack, widths c, c/2, c/4, c/8, c/16, out."""
    return [ConvT2dBlock(c, c, 4, 1, 0), ConvT2dBlock(c, c // 2, 4, 2, 1), ConvT2dBlock(c // 2, c // 4, 4, 2, 1),
            ConvT2dBlock(c // 4, c // 8, 4, 2, 1), ConvT2dBlock(c // 8, c // 16, 4, 2, 1),
            ConvT2dBlock(c // 16, out, 4, 2, 1)]


def _pose_injector(c: int) -> nn.Sequential:
    """(B*T,1,128,128) pose heatmap -> (B*T, c/8, 32, 32)."""
    return nn.Sequential(Conv2dBlock(1, c // 16, 3, 2, 1), Conv2dBlock(c // 16, c // 8, 3, 2, 1))


class HeatmapDecoder(nn.Module):
    """forward(lip (B*T,D,1,1), jaw (B*T,D,1,1), pose_heatmap (B*T,1,128,128)) -> lip, jaw (B*T,1,128,128) in [-1,1].

    message_passing="release": both messages come from `message_l2j` (the release; `message_j2l` is kept but
    unused so the state dict matches); "paper": jaw->lip uses `message_j2l`.
    """

    def __init__(self, in_channels: int = 512, out_channels: int = 1, message_passing: str = "release"):
        super().__init__()
        c = in_channels
        for i, m in enumerate(_branch(c, out_channels) + _branch(c, out_channels), start=1):
            setattr(self, f"conv_t{i}", m)          # conv_t1..6 lip, conv_t7..12 jaw
        self.message_l2j = nn.Sequential(Conv2dBlock(c // 2, c // 2, 3, 1, 1))
        self.message_j2l = nn.Sequential(Conv2dBlock(c // 2, c // 2, 3, 1, 1))
        self.message_p2j = _pose_injector(c)
        self.message_p2l = _pose_injector(c)
        self.tanh = nn.Tanh()
        self.message_passing = message_passing

    def forward(self, lip: torch.Tensor, jaw: torch.Tensor, pose_heatmap: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv_t2(self.conv_t1(lip))                 # (B*T, D/2, 8, 8)
        y = self.conv_t8(self.conv_t7(jaw))
        l2j = self.message_l2j(x)
        j2l = self.message_l2j(y) if self.message_passing == "release" else self.message_j2l(y)
        x, y = x + j2l, y + l2j
        x = self.conv_t4(self.conv_t3(x))                   # (B*T, D/8, 32, 32)
        y = self.conv_t10(self.conv_t9(y))
        x = x + self.message_p2l(pose_heatmap)
        y = y + self.message_p2j(pose_heatmap)
        x = self.conv_t6(self.conv_t5(x))                   # (B*T, 1, 128, 128)
        y = self.conv_t12(self.conv_t11(y))
        return self.tanh(x), self.tanh(y)
