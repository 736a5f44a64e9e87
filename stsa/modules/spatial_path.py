"""Spatial path: reference image / heatmap encoders and AdaAT deformation of the reference features at 3 scales."""

from __future__ import annotations

import torch
from torch import nn

from stsa.modules.adaat import AdaAT
from stsa.modules.conv_blocks import DownBlock2d, ResBlock2d, SameBlock2d


class RefImageEncoder(nn.Module):
    """(B,N,3,128,128) references -> [(B,c128,128,128), (B,c64,64,64), (B,c32,32,32)].

    Like the release the N images are stacked channel-major: channel k*N + n is colour k of reference n.
    """

    def __init__(self, n_ref: int = 5, feat: tuple[int, int, int] = (32, 128, 256), mid: int = 64):
        super().__init__()
        c128, c64, c32 = feat
        self.conv1 = nn.Sequential(SameBlock2d(3 * n_ref, c128), ResBlock2d(c128, c128), ResBlock2d(c128, c128))
        self.conv2 = nn.Sequential(DownBlock2d(c128, mid), SameBlock2d(mid, c64),
                                   ResBlock2d(c64, c64), ResBlock2d(c64, c64))
        self.conv3 = nn.Sequential(DownBlock2d(c64, c32), SameBlock2d(c32, c32),
                                   ResBlock2d(c32, c32), ResBlock2d(c32, c32))

    def forward(self, refs: torch.Tensor) -> list[torch.Tensor]:
        x = refs.transpose(1, 2).flatten(1, 2)              # (B, 3N, H, W), channel-major
        f128 = self.conv1(x)
        f64 = self.conv2(f128)
        f32 = self.conv3(f64)
        return [f128, f64, f32]


class HeatmapEncoder(nn.Module):
    """(B, Cin, 128, 128) heatmaps -> (B, C, 32, 32). Cin = 3 (target) or 3N (references, frame-major)."""

    def __init__(self, in_channels: int, channels: int = 32):
        super().__init__()
        self.heatmap_down = nn.Sequential(SameBlock2d(in_channels, channels, kernel_size=7, padding=3),
                                          DownBlock2d(channels, channels), DownBlock2d(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heatmap_down(x)


class SpatialNetwork(nn.Module):
    """AdaAT deformation driven by [audio code | alignment code of (ref feats, ref heatmaps, target heatmap)].

    forward(ref_feats [3 scales], ref_hm (B,Ch,32,32), tar_hm (B,Ch,32,32), audio (B,Ca,1)) -> [3 scales]

    The first appearance blocks see the reference features only: `appearance(ref_feats)` computes them, and
    `forward(..., appearance=...)` reuses a result (of batch B) instead of recomputing it.
    """

    def __init__(self, feat: tuple[int, int, int] = (32, 128, 256), heatmap_channels: int = 32,
                 align_channels: int = 128, audio_channels: int = 128):
        super().__init__()
        c128, c64, c32 = feat
        a = align_channels
        self.alignment_encoder = nn.Sequential(
            SameBlock2d(c32 + 2 * heatmap_channels, a, kernel_size=3, padding=1),
            SameBlock2d(a, a, kernel_size=11, padding=5),
            DownBlock2d(a, a, 3, 1, 3),                        # 32 -> 11
            SameBlock2d(a, a, kernel_size=7, padding=3),
            DownBlock2d(a, a, 3, 1, 2),                        # 11 -> 6
            SameBlock2d(a, a, kernel_size=3, padding=1),
            DownBlock2d(a, a, 3, 1, 2),                        # 6 -> 3
            SameBlock2d(a, a, kernel_size=3, padding=1),
            DownBlock2d(a, a, 3, 0, 2),                        # 3 -> 1
        )
        self.global_avg2d_audio = nn.AdaptiveAvgPool2d(1)      # unused, as in the release
        self.global_avg2d_alignment = nn.AdaptiveAvgPool2d(1)
        p = audio_channels + a
        # registered twice (by name and in the list) like the release, so the state dict has both keys
        self.adaAT_32 = AdaAT(p, c32)
        self.adaAT_64 = AdaAT(p, c64)
        self.adaAT_128 = AdaAT(p, c128)
        self.adaAT = nn.ModuleList([self.adaAT_128, self.adaAT_64, self.adaAT_32])

        def pair(c: int) -> nn.ModuleList:
            return nn.ModuleList([nn.Sequential(ResBlock2d(c, c), ResBlock2d(c, c)) for _ in range(2)])

        self.appearance_conv_list_32 = pair(c32)
        self.appearance_conv_list_64 = pair(c64)
        self.appearance_conv_list_128 = pair(c128)
        self.appearance_conv_list = nn.ModuleList([self.appearance_conv_list_128, self.appearance_conv_list_64,
                                                   self.appearance_conv_list_32])

    def appearance(self, ref_feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """`appearance_conv_list[i][0]` of each scale (before AdaAT): [3 scales] -> [3 scales], same shapes."""
        return [self.appearance_conv_list[i][0](f) for i, f in enumerate(ref_feats)]

    def forward(self, ref_feats: list[torch.Tensor], ref_hm: torch.Tensor, tar_hm: torch.Tensor,
                audio: torch.Tensor, *, appearance: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        align = self.alignment_encoder(torch.cat([ref_feats[2], ref_hm, tar_hm], dim=1))   # (B,A,1,1)
        align = self.global_avg2d_alignment(align).flatten(1)                               # (B,A)
        code = torch.cat([audio.squeeze(-1), align], dim=1)                                 # (B,Ca+A)
        if appearance is None:
            appearance = self.appearance(ref_feats)
        out = []
        for i, f in enumerate(appearance):
            f = self.adaAT[i](f, code)
            out.append(self.appearance_conv_list[i][1](f))
        return out                                      # [(B,c128,128,128), (B,c64,64,64), (B,c32,32,32)]
