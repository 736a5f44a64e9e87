"""Device selection: CUDA when present, else CPU."""

from __future__ import annotations

import torch


def resolve_device(requested: str | None = None) -> torch.device:
    """``None``/"auto" -> cuda if available else cpu; otherwise the requested device."""
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but no CUDA device is available (use --device cpu)")
    return device
