"""Wav2Lip's lip-sync expert (SyncNet_color): a face-window encoder and a mel encoder embedding into one space.

Used as Wav2Lip's frozen expert and as STSA's sync-loss expert. The module tree and parameter names match the
released ``lipsync_expert.pth`` (``face_encoder.N.conv_block.{0,1}``, ``audio_encoder.N.conv_block.{0,1}``) at
``width=1``; smaller widths scale every channel count (same keys, for training from scratch in the demo).

Inputs: faces (B, 15, 48, 96) = 5 consecutive lower-half face crops (rows 48-95 of the 96x96 crop), BGR in [0,1],
stacked on channels; mel (B, 1, 80, 16) = the 16 mel columns starting at the window's first frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

SYNC_T = 5  # frames per expert window
MEL_STEP = 16  # mel columns per window


class ConvBN(nn.Module):
    """Conv -> BatchNorm (-> + input when residual) -> ReLU; keys ``conv_block.0`` (conv) and ``conv_block.1`` (BN)."""

    def __init__(self, cin: int, cout: int, kernel_size, stride, padding, residual: bool = False):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class ConvTransposeBN(nn.Module):
    """Transposed conv -> BatchNorm -> ReLU (keys ``conv_block.0``/``conv_block.1``)."""

    def __init__(self, cin: int, cout: int, kernel_size, stride, padding, output_padding: int = 0):
        super().__init__()
        self.conv_block = nn.Sequential(nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding),
                                        nn.BatchNorm2d(cout))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


def scaled(channels: int, width: float) -> int:
    """Channel count at ``width`` (1.0 = released sizes), at least 4."""
    return max(4, int(round(channels * width)))


def audio_encoder(width: float, extra_256_residual: bool) -> nn.Sequential:
    """Mel encoder shared by the expert and Wav2Lip: (B, 1, 80, 16) -> (B, C512, 1, 1).

    The expert has two residual blocks at 256 channels, Wav2Lip's generator one (``extra_256_residual``).
    """
    c = [scaled(n, width) for n in (32, 64, 128, 256, 512)]
    layers = [
        ConvBN(1, c[0], 3, 1, 1),
        ConvBN(c[0], c[0], 3, 1, 1, residual=True),
        ConvBN(c[0], c[0], 3, 1, 1, residual=True),
        ConvBN(c[0], c[1], 3, (3, 1), 1),  # 27x16
        ConvBN(c[1], c[1], 3, 1, 1, residual=True),
        ConvBN(c[1], c[1], 3, 1, 1, residual=True),
        ConvBN(c[1], c[2], 3, 3, 1),  # 9x6
        ConvBN(c[2], c[2], 3, 1, 1, residual=True),
        ConvBN(c[2], c[2], 3, 1, 1, residual=True),
        ConvBN(c[2], c[3], 3, (3, 2), 1),  # 3x3
        ConvBN(c[3], c[3], 3, 1, 1, residual=True),
    ]
    if extra_256_residual:
        layers.append(ConvBN(c[3], c[3], 3, 1, 1, residual=True))
    layers += [ConvBN(c[3], c[4], 3, 1, 0), ConvBN(c[4], c[4], 1, 1, 0)]  # 1x1
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class SyncExpertConfig:
    """``width`` scales every channel count (1.0 = released ``lipsync_expert.pth``)."""

    width: float = 1.0

    @classmethod
    def preset(cls, name: str) -> SyncExpertConfig:
        return {"paper": cls(1.0), "demo": cls(0.125)}[name]


class SyncExpert(nn.Module):
    """SyncNet_color: returns L2-normalised (audio, face) embeddings, each (B, C512)."""

    def __init__(self, config: SyncExpertConfig | None = None):
        super().__init__()
        self.config = config or SyncExpertConfig()
        w = self.config.width
        c32, c64, c128, c256, c512 = (scaled(n, w) for n in (32, 64, 128, 256, 512))
        self.face_encoder = nn.Sequential(
            ConvBN(3 * SYNC_T, c32, 7, 1, 3),  # 48x96
            ConvBN(c32, c64, 5, (1, 2), 1),  # 46x47
            ConvBN(c64, c64, 3, 1, 1, residual=True),
            ConvBN(c64, c64, 3, 1, 1, residual=True),
            ConvBN(c64, c128, 3, 2, 1),  # 23x24
            ConvBN(c128, c128, 3, 1, 1, residual=True),
            ConvBN(c128, c128, 3, 1, 1, residual=True),
            ConvBN(c128, c128, 3, 1, 1, residual=True),
            ConvBN(c128, c256, 3, 2, 1),  # 12x12
            ConvBN(c256, c256, 3, 1, 1, residual=True),
            ConvBN(c256, c256, 3, 1, 1, residual=True),
            ConvBN(c256, c512, 3, 2, 1),  # 6x6
            ConvBN(c512, c512, 3, 1, 1, residual=True),
            ConvBN(c512, c512, 3, 1, 1, residual=True),
            ConvBN(c512, c512, 3, 2, 1),  # 3x3
            ConvBN(c512, c512, 3, 1, 0),  # 1x1
            ConvBN(c512, c512, 1, 1, 0),
        )
        self.audio_encoder = audio_encoder(w, extra_256_residual=True)

    def forward(self, mel: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (B, 1, 80, 16), faces (B, 15, 48, 96) -> audio (B, C), face (B, C) unit vectors."""
        a = self.audio_encoder(mel).flatten(1)
        v = self.face_encoder(faces).flatten(1)
        return F.normalize(a, p=2, dim=1), F.normalize(v, p=2, dim=1)


def sync_probability(audio_emb: torch.Tensor, face_emb: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of unit embeddings, clamped to (0, 1) as Wav2Lip's BCE expects: (B,)."""
    return F.cosine_similarity(audio_emb, face_emb).clamp(1e-7, 1 - 1e-7)


def sync_bce(audio_emb: torch.Tensor, face_emb: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Wav2Lip's expert loss: BCE between the cosine similarity and label (1 in sync, 0 off sync). Always in float32,
    outside any autocast (BCE on probabilities is unsafe in half precision: CUDA autocast refuses it)."""
    with torch.autocast(audio_emb.device.type, enabled=False):
        p = sync_probability(audio_emb.float(), face_emb.float())
        return F.binary_cross_entropy(p, label.float().view(-1))


def stack_window(faces: torch.Tensor) -> torch.Tensor:
    """(B, 3, T=5, H, W) face window -> (B, 15, H//2, W): lower halves stacked on channels."""
    b, c, t, h, w = faces.shape
    lower = faces[:, :, :, h // 2:]
    return lower.permute(0, 2, 1, 3, 4).reshape(b, t * c, h - h // 2, w)
