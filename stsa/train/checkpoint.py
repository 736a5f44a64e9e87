"""Training checkpoints: models, optimisers, RNG states, config, losses used, data manifest hash and step.

A checkpoint is a plain dict saved with ``torch.save`` and loadable with ``weights_only=True``:
``{format, stage, step, config, losses, loss_weights, ablation, data_hash, seed, models: {name: state_dict},
optimizers: {name: state}, rng: {torch, numpy}}``. ``models`` holds ``guidance`` and/or ``renderer`` (and the
training-only ``discriminator``); a fine-tuned checkpoint holds both stages and is what ``stsa-bench dub`` loads.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from stsa.errors import WeightsError

FORMAT = "stsa-bench-checkpoint/1"


def config_to_dict(cfg) -> dict:
    """STSAConfig -> nested plain dict (tuples become lists)."""
    return dataclasses.asdict(cfg)


def config_from_dict(d: dict):
    """Nested dict (from ``config_to_dict`` or a YAML file) -> STSAConfig; unknown keys raise ValueError."""
    from stsa.config import GuidanceConfig, InferenceConfig, RendererConfig, STSAConfig

    def build(cls, values: dict):
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(values) - set(names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    d = dict(d)
    g = build(GuidanceConfig, d.pop("guidance", {}) or {})
    r = build(RendererConfig, d.pop("renderer", {}) or {})
    i = build(InferenceConfig, d.pop("inference", {}) or {})
    return build(STSAConfig, {**d, "guidance": g, "renderer": r, "inference": i})


def load_config(spec: str | Path):
    """``demo`` / ``paper`` preset, or a YAML file: ``preset: demo|paper`` plus overrides of any field."""
    from stsa.config import STSAConfig

    if str(spec) in ("demo", "paper"):
        return getattr(STSAConfig, str(spec))()
    import yaml

    path = Path(spec)
    if not path.is_file():
        raise WeightsError(path, "config file not found", "pass demo, paper or an existing YAML file")
    values = yaml.safe_load(path.read_text()) or {}
    preset = values.pop("preset", "demo")
    base = config_to_dict(getattr(STSAConfig, preset)())
    for key in ("guidance", "renderer", "inference"):
        base[key].update(values.pop(key, {}) or {})
    base.update(values)
    try:
        return config_from_dict(base)
    except (TypeError, ValueError) as exc:
        raise WeightsError(path, f"invalid config ({exc})", "fix the field names/values in the YAML file") from exc


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, **payload}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by ``save_checkpoint``; anything else raises WeightsError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(path, "checkpoint not found", "train it with `stsa-bench train` or fix the path")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt files
        raise WeightsError(path, f"unreadable checkpoint ({exc.__class__.__name__}: {exc})",
                           "the file is corrupt or not a torch checkpoint; train again") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise WeightsError(path, "not an stsa-bench training checkpoint",
                           "pass a file written by `stsa-bench train` (release weights load without --checkpoint)")
    return ckpt


def rng_state(np_rng) -> dict:
    return {"torch": torch.get_rng_state(), "numpy": np_rng.bit_generator.state}


def restore_rng(state: dict, np_rng) -> None:
    torch.set_rng_state(state["torch"])
    np_rng.bit_generator.state = state["numpy"]


def load_expert_state(path: str | Path) -> dict[str, torch.Tensor]:
    """A SyncNet expert state dict from a Wav2Lip-style file (``state_dict`` key, ``module.`` prefixes) or from an
    stsa-bench checkpoint (``models.expert`` / ``state_dict``)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(path, "sync expert checkpoint not found",
                           "train it with `stsa-bench baselines train --model expert` or drop --expert")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise WeightsError(path, f"unreadable expert checkpoint ({exc})", "train the expert again") from exc
    if isinstance(obj, dict) and "models" in obj:
        obj = obj["models"].get("expert", obj["models"])
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not any(k.endswith("face_encoder.0.conv_block.0.weight") for k in obj):
        raise WeightsError(path, "no SyncNet expert weights in this file", "pass an expert checkpoint")
    return {k.removeprefix("module."): v for k, v in obj.items() if torch.is_tensor(v)}
