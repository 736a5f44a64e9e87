"""Stage-1 fusion transformer over [N reference | T audio | T pose] tokens."""

from __future__ import annotations

import torch
from torch import nn

from stsa.modules.positional import PositionalEmbedding

POSE, AUDIO, REF = 1, 2, 3  # modality ids (0 = padding)


class FusionTransformer(nn.Module):
    """Adds sinusoidal positions (audio, pose) and modality embeddings, then a TransformerEncoder.

    forward(ref (B,N,D), audio (B,T,D), pose (B,T,D)) -> tokens (B, N+2T, D)
    """

    def __init__(self, d_model: int, nlayers: int, nhead: int, dim_feedforward: int, dropout: float = 0.1,
                 max_len: int = 512):
        super().__init__()
        self.position_v = PositionalEmbedding(d_model, max_len)   # pose tokens
        self.position_a = PositionalEmbedding(d_model, max_len)   # audio tokens
        self.modality = nn.Embedding(4, d_model, padding_idx=0)
        self.dropout = nn.Dropout(p=dropout)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True)
        self.transformer_encoder = nn.TransformerEncoder(layer, nlayers, enable_nested_tensor=False)

    def _mod(self, kind: int, b: int, n: int, device: torch.device) -> torch.Tensor:
        return self.modality(torch.full((b, n), kind, dtype=torch.long, device=device))   # (B,n,D)

    def forward(self, ref: torch.Tensor, audio: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        b, t, dev = pose.size(0), pose.size(1), pose.device
        pose_tok = pose + self.position_v(pose) + self._mod(POSE, b, t, dev)          # (B,T,D)
        audio_tok = audio + self.position_a(audio) + self._mod(AUDIO, b, t, dev)      # (B,T,D)
        ref_tok = ref + self._mod(REF, b, ref.size(1), dev)                           # (B,N,D), no position
        tokens = self.dropout(torch.cat([ref_tok, audio_tok, pose_tok], dim=1))       # (B,N+2T,D)
        return self.transformer_encoder(tokens)
