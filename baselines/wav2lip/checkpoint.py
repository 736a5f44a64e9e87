"""Loading Wav2Lip / expert weights: released files (``state_dict`` wrapper, ``module.`` prefix) and our own
training checkpoints (``{"kind", "config", "step", "state_dict", ...}``), always with ``weights_only=True``."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from stsa.errors import WeightsError

RELEASED_FILES = {"wav2lip": "wav2lip.pth", "wav2lip_gan": "wav2lip_gan.pth", "lipsync_expert": "lipsync_expert.pth"}
RELEASED_URL = "https://github.com/Rudrabha/Wav2Lip#getting-the-weights (links in its README)"


def weights_dir() -> Path:
    """``$STSA_BENCH_WEIGHTS`` or ~/.cache/stsa-bench/weights (the contract of stsa.weights)."""
    return Path(os.environ.get("STSA_BENCH_WEIGHTS", Path.home() / ".cache" / "stsa-bench" / "weights"))


def resolve_released(name: str) -> Path:
    """Path of a released Wav2Lip file by manifest name; missing raises WeightsError with where to get it."""
    try:
        from stsa import weights as registry  # colleague's module, when present

        if hasattr(registry, "resolve"):
            return Path(registry.resolve(name))
    except ImportError:
        pass
    path = weights_dir() / RELEASED_FILES[name]
    if not path.is_file():
        raise WeightsError(path, f"{RELEASED_FILES[name]} not found",
                           f"download it from {RELEASED_URL} and put it at {path}, or pass --option checkpoint=FILE")
    return path


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


def load_into(module: torch.nn.Module, path: str | Path, name: str | None = None) -> dict:
    """Load ``path`` into ``module`` strictly; returns the raw checkpoint. Mismatches raise WeightsError."""
    obj = None
    if name is not None:
        try:
            from stsa.weights import load_state_dict as registry_load

            obj = registry_load(name, path)
        except (ImportError, AttributeError, TypeError):
            obj = None
    if obj is None:
        obj = load_checkpoint(path)
    state = unwrap_state_dict(obj)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(path, f"weights do not fit {type(module).__name__}: {str(exc)[:300]}",
                           "check the file is the right model (and preset width for our own checkpoints)") from exc
    return obj
