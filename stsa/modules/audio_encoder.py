"""Audio encoders: 1-D conv stacks over one video frame's window of wav2vec (768x10) or mel (80x16) features."""

from __future__ import annotations

import torch
from torch import nn

from stsa.modules.conv_blocks import Conv1dBlock


def _after_stride2(w: int) -> int:
    return (w - 1) // 2 + 1                                  # conv k3 s2 p1


def final_kernel(window: int) -> int:
    """Kernel of the last valid conv that collapses the window after two stride-2 convs (10 -> 3, 16 -> 4)."""
    return _after_stride2(_after_stride2(window))


def guidance_audio_encoder(in_dim: int, window: int, channels: tuple[int, int], d_model: int) -> nn.Sequential:
    """Stage-1 `mel_encoder`: (B*T, A, W) -> (B*T, d_model, 1), tanh output. Indices match the release."""
    c1, c2 = channels
    k = final_kernel(window)
    return nn.Sequential(
        Conv1dBlock(in_dim, c1, 3, 1, 1),                                   # (c1, W)
        Conv1dBlock(c1, c1, 3, 1, 1),
        Conv1dBlock(c1, c1, 3, 1, 1, residual=True),
        Conv1dBlock(c1, c1, 3, 1, 1, residual=True),
        Conv1dBlock(c1, c2, 3, 2, 1),                                       # (c2, W/2)
        Conv1dBlock(c2, c2, 3, 1, 1, residual=True),
        Conv1dBlock(c2, c2, 3, 1, 1, residual=True),
        Conv1dBlock(c2, d_model, 3, 2, 1),                                  # (D, W/4)
        Conv1dBlock(d_model, d_model, 3, 1, 1, residual=True),
        Conv1dBlock(d_model, d_model, 3, 1, 1, residual=True),
        Conv1dBlock(d_model, d_model, 3, 1, 1),
        Conv1dBlock(d_model, d_model, k, 1, 0),                             # (D, 1)
        Conv1dBlock(d_model, d_model, 1, 1, 0, act="tanh"),
    )


class RendererAudioEncoder(nn.Module):
    """Stage-2 `audio_encoder` (release: audio_encoer_w2v). (B, A, W) -> (B, C, 1)"""

    def __init__(self, in_dim: int = 768, window: int = 10, channels: int = 128):
        super().__init__()
        c, k = channels, final_kernel(window)
        self.w2v_encoder = nn.Sequential(
            Conv1dBlock(in_dim, c, 3, 1, 1),                                # (C, W)
            Conv1dBlock(c, c, 3, 2, 1),                                     # (C, W/2)
            Conv1dBlock(c, c, 3, 1, 1, residual=True),
            Conv1dBlock(c, c, 3, 1, 1, residual=True),
            Conv1dBlock(c, c, 3, 2, 1),                                     # (C, W/4)
            Conv1dBlock(c, c, 3, 1, 1, residual=True),
            Conv1dBlock(c, c, 3, 1, 1, residual=True),
            Conv1dBlock(c, c, 3, 1, 1, residual=True),
            Conv1dBlock(c, c, k, 1, 0),                                     # (C, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2v_encoder(x)
