"""STSA training losses: perceptual VGG19 + Gram (or a weight-free stand-in), patch GAN, feature matching,
SyncNet sync loss, mutual-information loss, and the stage-1 heatmap / keypoint / velocity losses.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn


# ---------------------------------------------------------------------------------------------- stage 1
def guidance_losses(pred_heatmaps: torch.Tensor, gt_heatmaps: torch.Tensor, pred_landmarks: torch.Tensor,
                    gt_landmarks: torch.Tensor, T: int) -> dict[str, torch.Tensor]:
    """Heatmap L2, keypoint L2 and temporal velocity L2.

    pred/gt_heatmaps (B*T,1,128,128); pred/gt_landmarks (B*T,2,57) in [0,1] crop coordinates, batch-major.
    """
    heat = F.mse_loss(pred_heatmaps, gt_heatmaps)
    key = F.mse_loss(pred_landmarks, gt_landmarks)
    p = pred_landmarks.reshape(-1, T, *pred_landmarks.shape[1:])  # (B,T,2,57)
    g = gt_landmarks.reshape(-1, T, *gt_landmarks.shape[1:])
    vel = F.mse_loss(p[:, 1:] - p[:, :-1], g[:, 1:] - g[:, :-1]) if T > 1 else heat.new_zeros(())
    return {"heatmap": heat, "keypoint": key, "velocity": vel}


# ---------------------------------------------------------------------------------------------- perceptual
def vgg_state_from(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """VGG19 ``features`` weights from torchvision's ``vgg19-dcbb9e9d.pth`` (``features.N.*``) or from an STSA
    renderer state dict (``perceptual.model.network.N.*``) -> ``N.weight``/``N.bias``."""
    out = {}
    for key, value in state.items():
        for prefix in ("features.", "perceptual.model.network."):
            if key.startswith(prefix):
                out[key[len(prefix):]] = value
    return out


class PyramidL1Loss(nn.Module):
    """Weight-free stand-in for the VGG19 perceptual loss when ImageNet VGG19 weights are absent: mean L1 over a
    4-level image pyramid (128, 64, 32, 16 px; 2x2 average pooling) plus L1 of the horizontal and vertical image
    gradients at full resolution (keeps edges sharp)."""

    def __init__(self, levels: int = 4):
        super().__init__()
        self.levels = levels

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        real = real.detach()
        loss = fake.new_zeros(())
        a, b = fake, real
        for _ in range(self.levels):
            loss = loss + F.l1_loss(a, b)
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        grad = (F.l1_loss(fake[..., 1:, :] - fake[..., :-1, :], real[..., 1:, :] - real[..., :-1, :])
                + F.l1_loss(fake[..., 1:] - fake[..., :-1], real[..., 1:] - real[..., :-1]))
        return loss / self.levels + grad


def build_reconstruction_loss() -> tuple[nn.Module, str]:
    """The release's VGG19 perceptual + Gram loss (stsa.modules.perceptual, correct [0,1] normalisation) when
    ImageNet VGG19 weights exist (stsa.weights ``vgg19``), else the pyramid-L1 stand-in.
    -> (module with forward(fake, real) -> scalar, name recorded in the checkpoint)."""
    from stsa.errors import WeightsError
    from stsa.modules.perceptual import PerceptualLoss
    from stsa.weights import load_state_dict

    try:
        state = vgg_state_from(load_state_dict("vgg19"))
    except WeightsError:
        state = {}
    if not state:
        return PyramidL1Loss(), "pyramid_l1"
    loss = PerceptualLoss(input_range="unit")
    loss.model.network.load_state_dict(state)
    return loss, "vgg19_perceptual_gram"


# ---------------------------------------------------------------------------------------------- GAN
def gan_generator_loss(fake_feats: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN generator term: (D(fake) - 1)^2."""
    return F.mse_loss(fake_feats[-1], torch.ones_like(fake_feats[-1]))


def gan_discriminator_loss(real_feats: list[torch.Tensor], fake_feats: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN discriminator: (D(real) - 1)^2 + D(fake)^2, halved."""
    r, f = real_feats[-1], fake_feats[-1]
    return 0.5 * (F.mse_loss(r, torch.ones_like(r)) + F.mse_loss(f, torch.zeros_like(f)))


def feature_matching_loss(real_feats: list[torch.Tensor], fake_feats: list[torch.Tensor]) -> torch.Tensor:
    """Mean L1 between discriminator features of real and fake (all layers but the logits)."""
    pairs = list(zip(real_feats[:-1], fake_feats[:-1], strict=True))
    return sum(F.l1_loss(f, r.detach()) for r, f in pairs) / len(pairs)


# ---------------------------------------------------------------------------------------------- sync + MI
def sync_input(frames: torch.Tensor) -> torch.Tensor:
    """(B,5,3,128,128) BGR [0,1] (the renderer's order, also Wav2Lip's cv2 one) -> (B,15,48,96): the expert's
    input, lower half of 96x96 faces, frames concatenated on channels."""
    b, t = frames.shape[:2]
    x = F.interpolate(frames.reshape(b * t, 3, *frames.shape[-2:]), size=(96, 96), mode="bilinear",
                      align_corners=False)
    return x[:, :, 48:, :].reshape(b, t * 3, 48, 96)


def sync_loss(expert: nn.Module, mel: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Wav2Lip's expert sync loss: BCE(cos(audio_emb, face_emb), 1). mel (B,1,80,16), frames (B,5,3,128,128) BGR."""
    from stsa.modules.sync_expert import sync_bce

    a, v = expert(mel, sync_input(frames))
    return sync_bce(a, v, torch.ones(len(a), device=a.device))


def mi_loss(mi_lower_bound: torch.Tensor | None) -> torch.Tensor | None:
    """CIL: maximise the Donsker-Varadhan lower bound -> minimise its negative."""
    return None if mi_lower_bound is None else -mi_lower_bound.mean()


LOSS_WEIGHTS = {"perceptual": 4.0, "gan": 0.25, "feature_matching": 1.0, "sync": 0.1, "mi": 0.01}
