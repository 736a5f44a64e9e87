"""VGG19 perceptual + Gram (style) loss network, kept under `perceptual.` as in the release's state dict.

This is a loss network: the model never runs it in `forward` (the release does, even at inference).
`PerceptualLoss.forward(pred, target)` reproduces the release's loss: L1 over relu1_1..relu5_1 at 2 scales plus
250 x L1 of Gram matrices at the first scale. The release feeds [0,1] images into a normalisation written for
[-1,1] inputs; `input_range="release"` keeps that, `"unit"` normalises [0,1] images correctly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LAYERS = {1: "relu_1_1", 6: "relu_2_1", 11: "relu_3_1", 20: "relu_4_1", 29: "relu_5_1"}
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def vgg19_features() -> nn.Sequential:
    """torchvision's VGG19 `features` layout (37 layers, same indices), built without the 120 M-parameter
    classifier; randomly initialised: load torchvision's vgg19 weights (`features.*`) or a release checkpoint."""
    layers: list[nn.Module] = []
    cin = 3
    for v in VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            conv = nn.Conv2d(cin, int(v), kernel_size=3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            layers += [conv, nn.ReLU(inplace=True)]
            cin = int(v)
    return nn.Sequential(*layers)


class _PerceptualNetwork(nn.Module):
    def __init__(self, network: nn.Sequential):
        super().__init__()
        self.network = network
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        last = max(LAYERS)
        for i, layer in enumerate(self.network):
            x = layer(x)
            if i in LAYERS:
                out[LAYERS[i]] = x
            if i == last:
                break
        return out


def gram(x: torch.Tensor) -> torch.Tensor:
    """(B,C,H,W) -> (B,C,C) / (C*H*W)."""
    b, c, h, w = x.shape
    f = x.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (h * w * c)


class PerceptualLoss(nn.Module):
    """forward(pred (B,3,H,W), target (B,3,H,W)) -> scalar loss."""

    def __init__(self, num_scales: int = 2, style_weight: float = 250.0, input_range: str = "release"):
        super().__init__()
        self.model = _PerceptualNetwork(vgg19_features())
        self.num_scales, self.style_weight, self.input_range = num_scales, style_weight, input_range

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_range == "release":        # (x + 1) / 2, as if x were in [-1, 1]
            x = (x + 1) / 2
        mean = x.new_tensor(_MEAN).view(1, 3, 1, 1)
        std = x.new_tensor(_STD).view(1, 3, 1, 1)
        return (x - mean) / std

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        x, y = self.normalize(pred), self.normalize(target)
        loss = pred.new_zeros(())
        for scale in range(self.num_scales):
            fx, fy = self.model(x), self.model(y)
            for name in LAYERS.values():
                a, b = fx[name], fy[name].detach()
                loss = loss + F.l1_loss(a, b)
                if scale == 0 and self.style_weight:
                    loss = loss + self.style_weight * F.l1_loss(gram(a), gram(b))
            if scale != self.num_scales - 1:
                x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
                y = F.interpolate(y, scale_factor=0.5, mode="bilinear", align_corners=False)
        return loss
