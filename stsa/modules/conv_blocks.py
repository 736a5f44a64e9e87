"""Conv + BatchNorm + activation blocks shared by both stages (names follow the release's state dicts)."""

from __future__ import annotations

import torch
from torch import nn


def weight_init(m: nn.Module) -> None:
    """The release's init: xavier-normal Linear weights, zero biases, unit BatchNorm1d."""
    if isinstance(m, nn.Linear):
        nn.init.xavier_normal_(m.weight)
        nn.init.constant_(m.bias, 0)
    elif isinstance(m, nn.BatchNorm1d):
        nn.init.constant_(m.weight, 1)
        nn.init.constant_(m.bias, 0)


def _act(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"unknown activation {name!r}")


class Conv1dBlock(nn.Module):
    """Conv1d -> BN -> act, optional identity residual before the activation. (B,Cin,W) -> (B,Cout,W')"""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int, padding: int,
                 residual: bool = False, act: str = "relu"):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv1d(cin, cout, kernel_size, stride, padding), nn.BatchNorm1d(cout))
        self.act = _act(act)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        return self.act(out + x if self.residual else out)


class Conv2dBlock(nn.Module):
    """Conv2d -> BN -> act, optional identity residual. (B,Cin,H,W) -> (B,Cout,H',W')"""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int, padding: int,
                 residual: bool = False, act: str = "relu"):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
        self.act = _act(act)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        return self.act(out + x if self.residual else out)


class ConvT2dBlock(nn.Module):
    """ConvTranspose2d -> BN -> act. (B,Cin,H,W) -> (B,Cout,H',W')"""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int, padding: int, act: str = "relu"):
        super().__init__()
        self.convT_block = nn.Sequential(nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding),
                                         nn.BatchNorm2d(cout))
        self.act = _act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.convT_block(x))


class SameBlock2d(nn.Module):
    """Conv (stride 1) -> BN -> ReLU. (B,Cin,H,W) -> (B,Cout,H,W)"""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=kernel_size, padding=padding)
        self.norm = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.norm(self.conv(x)))


class DownBlock2d(nn.Module):
    """Strided conv -> BN -> ReLU. (B,Cin,H,W) -> (B,Cout,H/stride,W/stride)"""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, padding: int = 1, stride: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=kernel_size, padding=padding, stride=stride)
        self.norm = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.norm(self.conv(x)))


class ResBlock2d(nn.Module):
    """Pre-activation residual block (BN-ReLU-conv x2), 1x1 shortcut when widths differ."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.in_features, self.out_features = cin, cout
        self.conv1 = nn.Conv2d(cin, cin, kernel_size=kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(cin, cout, kernel_size=kernel_size, padding=padding)
        if cout != cin:
            self.channel_conv = nn.Conv2d(cin, cout, 1)
        self.norm1 = nn.BatchNorm2d(cin)
        self.norm2 = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.norm1(x)))
        out = self.conv2(self.relu(self.norm2(out)))
        return out + (self.channel_conv(x) if self.in_features != self.out_features else x)
