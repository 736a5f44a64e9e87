"""Loading Wav2Lip / expert weights: released files (``state_dict`` wrapper, ``module.`` prefix) and our own
training checkpoints (``{"kind", "config", "step", "state_dict", ...}``), always with ``weights_only=True``."""

from __future__ import annotations

from pathlib import Path

import torch

from stsa import weights
from stsa.errors import WeightsError


def unwrap_state_dict(obj) -> dict[str, torch.Tensor]:
    """Accept a bare state dict, ``{"state_dict": ...}`` and ``module.``-prefixed keys."""
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise TypeError(f"expected a state dict, got {type(obj).__name__}")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def load_checkpoint(path: str | Path) -> dict:
    """The raw checkpoint object loaded safely; unreadable files raise WeightsError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(path, "checkpoint not found", "train one with `stsa-bench baselines train` or download it")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise WeightsError(path, f"cannot load checkpoint ({type(exc).__name__}: {exc})",
                           "re-download the file; pickled full models are not accepted (weights_only)") from exc
    if not isinstance(obj, dict):
        raise WeightsError(path, "checkpoint is not a dict", "pass a state dict file")
    return obj


def load_state(module: torch.nn.Module, obj: dict, path: str | Path) -> None:
    """Load a checkpoint object (any form ``unwrap_state_dict`` takes) into ``module`` strictly; mismatches raise
    WeightsError naming ``path``."""
    try:
        module.load_state_dict(unwrap_state_dict(obj), strict=True)
    except RuntimeError as exc:
        raise WeightsError(path, f"weights do not fit {type(module).__name__}: {str(exc)[:300]}",
                           "check the file is the right model (and preset width for our own checkpoints)") from exc


def load_into(module: torch.nn.Module, path: str | Path, name: str | None = None) -> dict:
    """Load ``path`` into ``module`` strictly (checked against the manifest entry ``name`` when given, through
    ``stsa.weights.load_state_dict``); returns the raw checkpoint."""
    obj = weights.load_state_dict(name, Path(path)) if name is not None else load_checkpoint(path)
    load_state(module, obj, path)
    return obj
