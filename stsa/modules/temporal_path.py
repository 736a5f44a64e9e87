"""Temporal path: per reference a dense flow + confidence weight (SPADE on the target heatmap, AdaIN on audio),
warping of the reference features at 3 scales, and the weight-normalised sum over references."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from stsa.modules.adain import AdaIN
from stsa.modules.spade import SPADE


def _nearest(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="nearest")


def flow_to_deformation(flow: torch.Tensor) -> torch.Tensor:
    """Flow in pixels (B,2,H,W) -> sampling grid (B,H,W,2) in [-1,1] (identity grid + normalised flow)."""
    b, _, h, w = flow.shape
    x = 2 * (torch.arange(w).to(flow) / (w - 1)) - 1
    y = 2 * (torch.arange(h).to(flow) / (h - 1)) - 1
    grid = torch.stack([x.view(1, w).expand(h, w), y.view(h, 1).expand(h, w)], dim=-1)   # (H,W,2)
    norm = 2 * torch.cat([flow[:, :1] / (w - 1), flow[:, 1:] / (h - 1)], dim=1)          # (B,2,H,W)
    return grid.unsqueeze(0) + norm.permute(0, 2, 3, 1)


def warp(source: torch.Tensor, deformation: torch.Tensor) -> torch.Tensor:
    """Sample source (B,C,h,w) with a deformation (B,H,W,2), resized bilinearly to (h,w) when needed."""
    h, w = source.shape[-2:]
    if deformation.shape[1:3] != (h, w):
        deformation = F.interpolate(deformation.permute(0, 3, 1, 2), size=(h, w), mode="bilinear")
        deformation = deformation.permute(0, 2, 3, 1)
    return F.grid_sample(source, deformation, align_corners=False)


@dataclass
class TemporalReferences:
    """The reference-only part of `TemporalNetwork`: each reference's image and encoder features
    (`TemporalNetwork.encode_references`). Batch 1 is broadcast to any batch by `TemporalNetwork.forward`."""

    # one entry per reference k (lists, not stacked, so training keeps no second copy of the activations)
    images: list[torch.Tensor]  # N x (B,3,128,128) reference faces (warped into the output image)
    h128: list[torch.Tensor]    # N x (B,c128,128,128) conv1 + bn + relu of [reference | its heatmap]
    h64: list[torch.Tensor]     # N x (B,c64,64,64) conv2 + bn + relu
    h32: list[torch.Tensor]     # N x (B,c32,32,32) conv3 + bn + relu

    def expand(self, b: int) -> TemporalReferences:
        """The same features for a batch of b (views, no copy, when the batch is 1)."""
        return TemporalReferences(*([expand_batch(x, b) for x in xs]
                                    for xs in (self.images, self.h128, self.h64, self.h32)))


def expand_batch(x: torch.Tensor, b: int) -> torch.Tensor:
    """(1,...) -> (b,...) view; (b,...) unchanged; anything else is an error."""
    if x.size(0) == b:
        return x
    if x.size(0) != 1:
        raise ValueError(f"reference features have batch {x.size(0)}, expected 1 or {b}")
    return x.expand(b, *x.shape[1:])


class TemporalNetwork(nn.Module):
    """forward(refs (B,N,3,128,128), ref_hm (B,N,3,128,128), tar_hm (B,3,128,128), audio (B,Ca,1))
    -> ([(B,c128,128,128), (B,c64,64,64), (B,c32,32,32)], warped reference image (B,3,128,128)).

    `encode_references(refs, ref_hm)` is the part depending on the references only; pass its result as
    `forward(..., references=...)` to reuse it across frames (refs and ref_hm are then not read).
    """

    def __init__(self, feat: tuple[int, int, int] = (32, 128, 256), audio_channels: int = 128,
                 spade_hidden: int = 256, adain_hidden: int = 128, modulation_channels: int = 3):
        super().__init__()
        c128, c64, c32 = feat
        self.conv1 = nn.Conv2d(6, c128, kernel_size=7, stride=1, padding=3)
        self.conv1_bn = nn.BatchNorm2d(c128)
        self.conv1_relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c128, c64, kernel_size=3, stride=2, padding=1)
        self.conv2_bn = nn.BatchNorm2d(c64)
        self.conv2_relu = nn.ReLU()
        self.conv3 = nn.Conv2d(c64, c32, kernel_size=3, stride=2, padding=1)
        self.conv3_bn = nn.BatchNorm2d(c32)
        self.conv3_relu = nn.ReLU()
        self.spade_layer_1 = SPADE(c64, modulation_channels, spade_hidden)
        self.adain_1 = AdaIN(c64, audio_channels, adain_hidden)
        self.spade_layer_2 = SPADE(c64, modulation_channels, spade_hidden)
        self.adain_2 = AdaIN(c64, audio_channels, adain_hidden)
        self.pixel_shuffle_1 = nn.PixelShuffle(2)
        self.spade_layer_4 = SPADE(c128, modulation_channels, spade_hidden)
        self.conv_4 = nn.Conv2d(c128, 2, kernel_size=7, stride=1, padding=3)          # flow
        self.conv_5 = nn.Sequential(nn.Conv2d(c128, c128, 7, 1, 3), nn.ReLU(),         # weight in (0,1)
                                    nn.Conv2d(c128, 1, 7, 1, 3), nn.Sigmoid())

    def encode_references(self, refs: torch.Tensor, ref_hm: torch.Tensor) -> TemporalReferences:
        """refs (B,N,3,128,128), ref_hm (B,N,3,128,128) -> each reference's conv1..3 features."""
        out = TemporalReferences([], [], [], [])
        # one reference at a time, as the release (BatchNorm statistics per reference in training)
        for k in range(refs.size(1)):
            ref = refs[:, k]                                                    # (B,3,128,128)
            x = torch.cat([ref, ref_hm[:, k]], dim=1)                           # (B,6,128,128)
            h128 = self.conv1_relu(self.conv1_bn(self.conv1(x)))                # (B,c128,128,128)
            h64 = self.conv2_relu(self.conv2_bn(self.conv2(h128)))              # (B,c64,64,64)
            h32 = self.conv3_relu(self.conv3_bn(self.conv3(h64)))               # (B,c32,32,32)
            out.images.append(ref)
            out.h128.append(h128)
            out.h64.append(h64)
            out.h32.append(h32)
        return out

    def forward(self, refs: torch.Tensor | None, ref_hm: torch.Tensor | None, tar_hm: torch.Tensor,
                audio: torch.Tensor, *, references: TemporalReferences | None = None
                ) -> tuple[list[torch.Tensor], torch.Tensor]:
        b = tar_hm.size(0)
        references = self.encode_references(refs, ref_hm) if references is None else references.expand(b)
        code = audio.permute(0, 2, 1)                                         # (B,1,Ca)
        tar64 = _nearest(tar_hm, (64, 64))                                    # (B,3,64,64)
        # the SPADE scale/shift maps depend on the target heatmap only: computed once, not once per reference
        mod1 = self.spade_layer_1.modulation(tar64)
        mod2 = self.spade_layer_2.modulation(tar64)
        mod4 = self.spade_layer_4.modulation(tar_hm)
        sums: list[torch.Tensor | float] = [0.0, 0.0, 0.0]
        img_sum: torch.Tensor | float = 0.0
        denom: torch.Tensor | float = 0.0
        for ref, h128, h64, h32 in zip(references.images, references.h128, references.h64, references.h32,
                                       strict=True):
            s = self.adain_1(self.spade_layer_1(h64, mod=mod1), code)
            s = self.adain_2(self.spade_layer_2(s, mod=mod2), code)             # (B,c64,64,64)
            s = self.spade_layer_4(self.pixel_shuffle_1(s), mod=mod4)           # (B,c128,128,128)
            flow, weight = self.conv_4(s), self.conv_5(s)                       # (B,2,..), (B,1,128,128)
            deform = flow_to_deformation(flow)                                  # (B,128,128,2)
            sums[0] = sums[0] + warp(h128, deform) * weight
            sums[1] = sums[1] + warp(h64, deform) * _nearest(weight, (64, 64))
            sums[2] = sums[2] + warp(h32, deform) * _nearest(weight, (32, 32))
            img_sum = img_sum + warp(ref, deform) * weight
            denom = denom + weight
        denom = denom + 1e-5                                                    # (B,1,128,128)
        feats = [sums[0] / denom, sums[1] / _nearest(denom, (64, 64)), sums[2] / _nearest(denom, (32, 32))]
        return feats, img_sum / denom
