"""Mixed precision for training: autocast around the trained networks and their losses, a GradScaler for fp16.

``fp32`` (the default) is bit-reproducible on the CPU; ``bf16`` needs no loss scaling; ``fp16`` scales the loss
(``torch.amp.GradScaler``). Reduced precision pays on GPUs (and CPUs with AVX512-BF16/AMX); elsewhere oneDNN has no
kernels for it and convolutions fall back to a slow reference path (a warning says so). Only training uses this:
the metric networks (metrics/) always run in float32 (bf16 InceptionV3 features are ~20 % off in relative L2,
enough to move FID).
"""

from __future__ import annotations

import contextlib
import warnings

import torch

from stsa.train import PRECISIONS

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """Autocast context and gradient scalers of one training run."""

    def __init__(self, name: str, device: torch.device):
        if name not in PRECISIONS:
            raise ValueError(f"unknown precision {name!r}; choose from {PRECISIONS}")
        self.name, self.device_type, self.dtype = name, torch.device(device).type, _DTYPES[name]
        if name == "bf16" and self.device_type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError("this GPU has no bfloat16 support: train with --precision fp16 or fp32")
        if self.device_type == "cpu" and self.dtype is not None and not _cpu_kernels(name):
            warnings.warn(f"{name} on this CPU: oneDNN has no {name} kernels for it (no AVX512-BF16/AMX), so "
                          "convolutions take PyTorch's slow reference path (the demo renderer ran ~20x slower than "
                          "in fp32, BENCHMARKS.md); use fp32 here", stacklevel=2)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Forward passes and losses run under this (a no-op in fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """A loss scaler for one optimiser (disabled, i.e. a pass-through, unless fp16)."""
        return torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16")


def _cpu_kernels(name: str) -> bool:
    """Whether oneDNN runs ``name`` convolutions natively on this CPU."""
    check = {"bf16": "_is_mkldnn_bf16_supported", "fp16": "_is_mkldnn_fp16_supported"}[name]
    return bool(getattr(torch.ops.mkldnn, check)())
