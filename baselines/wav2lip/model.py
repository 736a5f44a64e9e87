"""Wav2Lip's generator (Prajwal et al. 2020) with the parameter names and shapes of the released ``wav2lip.pth``.

Input per frame: faces (B, 6, 96, 96) = target with rows 48-95 zeroed + a reference frame, BGR in [0,1]; mel
(B, 1, 80, 16). Output (B, 3, 96, 96) in [0,1]. ``width`` scales all channel counts (1.0 = released sizes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from stsa.modules.sync_expert import ConvBN, ConvTransposeBN, audio_encoder, scaled

IMG_SIZE = 96


@dataclass(frozen=True)
class Wav2LipConfig:
    """``width`` 1.0 = the released generator; ``mel_shift`` frames by which each frame's 16-column mel window is
    offset (0 = official inference.py, -2 = centred on the frame as in wav2lip_train.py)."""

    width: float = 1.0
    mel_shift: int = 0

    @classmethod
    def preset(cls, name: str) -> Wav2LipConfig:
        return {"paper": cls(1.0, 0), "demo": cls(0.125, -2)}[name]

    def to_dict(self) -> dict:
        return asdict(self)


class Wav2LipGenerator(nn.Module):
    """U-Net face encoder (96 -> 1), mel encoder, decoder with skip connections, sigmoid output."""

    def __init__(self, config: Wav2LipConfig | None = None):
        super().__init__()
        self.config = config or Wav2LipConfig()
        w = self.config.width
        c16, c32, c64, c128, c256, c384, c512 = (scaled(n, w) for n in (16, 32, 64, 128, 256, 384, 512))
        res = {"residual": True}
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(ConvBN(6, c16, 7, 1, 3)),  # 96
            nn.Sequential(ConvBN(c16, c32, 3, 2, 1), ConvBN(c32, c32, 3, 1, 1, **res),
                          ConvBN(c32, c32, 3, 1, 1, **res)),  # 48
            nn.Sequential(ConvBN(c32, c64, 3, 2, 1), ConvBN(c64, c64, 3, 1, 1, **res),
                          ConvBN(c64, c64, 3, 1, 1, **res), ConvBN(c64, c64, 3, 1, 1, **res)),  # 24
            nn.Sequential(ConvBN(c64, c128, 3, 2, 1), ConvBN(c128, c128, 3, 1, 1, **res),
                          ConvBN(c128, c128, 3, 1, 1, **res)),  # 12
            nn.Sequential(ConvBN(c128, c256, 3, 2, 1), ConvBN(c256, c256, 3, 1, 1, **res),
                          ConvBN(c256, c256, 3, 1, 1, **res)),  # 6
            nn.Sequential(ConvBN(c256, c512, 3, 2, 1), ConvBN(c512, c512, 3, 1, 1, **res)),  # 3
            nn.Sequential(ConvBN(c512, c512, 3, 1, 0), ConvBN(c512, c512, 1, 1, 0)),  # 1
        ])
        self.audio_encoder = audio_encoder(w, extra_256_residual=False)
        self.face_decoder_blocks = nn.ModuleList([
            nn.Sequential(ConvBN(c512, c512, 1, 1, 0)),  # 1
            nn.Sequential(ConvTransposeBN(2 * c512, c512, 3, 1, 0), ConvBN(c512, c512, 3, 1, 1, **res)),  # 3
            nn.Sequential(ConvTransposeBN(2 * c512, c512, 3, 2, 1, 1), ConvBN(c512, c512, 3, 1, 1, **res),
                          ConvBN(c512, c512, 3, 1, 1, **res)),  # 6
            nn.Sequential(ConvTransposeBN(c512 + c256, c384, 3, 2, 1, 1), ConvBN(c384, c384, 3, 1, 1, **res),
                          ConvBN(c384, c384, 3, 1, 1, **res)),  # 12
            nn.Sequential(ConvTransposeBN(c384 + c128, c256, 3, 2, 1, 1), ConvBN(c256, c256, 3, 1, 1, **res),
                          ConvBN(c256, c256, 3, 1, 1, **res)),  # 24
            nn.Sequential(ConvTransposeBN(c256 + c64, c128, 3, 2, 1, 1), ConvBN(c128, c128, 3, 1, 1, **res),
                          ConvBN(c128, c128, 3, 1, 1, **res)),  # 48
            nn.Sequential(ConvTransposeBN(c128 + c32, c64, 3, 2, 1, 1), ConvBN(c64, c64, 3, 1, 1, **res),
                          ConvBN(c64, c64, 3, 1, 1, **res)),  # 96
        ])
        self.output_block = nn.Sequential(ConvBN(c64 + c16, c32, 3, 1, 1), nn.Conv2d(c32, 3, 1, 1, 0),
                                          nn.Sigmoid())

    def forward(self, mel: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """mel (B, 1, 80, 16), faces (B, 6, 96, 96) -> (B, 3, 96, 96) in [0, 1]."""
        x = self.audio_encoder(mel)  # (B, C512, 1, 1)
        feats = []
        h = faces
        for block in self.face_encoder_blocks:
            h = block(h)
            feats.append(h)
        for block in self.face_decoder_blocks:
            x = torch.cat([block(x), feats.pop()], dim=1)
        return self.output_block(x)


def masked_input(target: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """target, reference (B, 3, H, W) -> (B, 6, H, W): target with its lower half zeroed, then the reference."""
    masked = target.clone()
    masked[:, :, target.shape[2] // 2:] = 0.0
    return torch.cat([masked, reference], dim=1)
