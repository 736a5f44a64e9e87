"""Training checkpoints: models, optimisers, loss scalers, config, losses used, data hash, run key and step.

A checkpoint is a plain dict saved with ``torch.save`` and loadable with ``weights_only=True``:
``{format, stage, step, config, losses, loss_weights, ablation, data_hash, seed, run_key, models: {name:
state_dict}, optimizers: {name: state}, scalers: {name: state}}``. ``models`` holds ``guidance`` and/or ``renderer``
(and the training-only ``discriminator``); a fine-tuned checkpoint holds both stages and is what ``stsa-bench dub``
loads. Periodic checkpoints (``PeriodicCheckpoints``) leave out frozen weights (the renderer's ``perceptual.``
VGG19) and live outside the workflow's outputs, so a killed job resumes from the last one.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import re
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


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_key(spec: dict) -> str:
    """SHA-256 of what a run's updates up to any step depend on (config, data, seed, batch, initial weights...):
    a periodic checkpoint is resumed only by a run with the same key."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


_STEP_FILE = re.compile(r"^step-(\d+)\.pt$")


class PeriodicCheckpoints:
    """``<directory>/step-<N>.pt`` of one run, the last ``keep`` kept. Each file holds the ``run_key`` of the run
    that wrote it; ``resume(key)`` returns the newest file of run ``key`` and deletes those of other runs (the
    directory belongs to one rule and variant: a changed config or input makes the old files useless)."""

    def __init__(self, directory: str | Path, keep: int = 3):
        if keep < 1:
            raise ValueError(f"keep must be >= 1 (got {keep})")
        self.directory, self.keep = Path(directory), keep
        self.removed: list[str] = []

    def files(self) -> list[tuple[int, Path]]:
        """(step, path) of the periodic checkpoints present, newest first."""
        if not self.directory.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.directory.iterdir() if (m := _STEP_FILE.match(p.name))]
        return sorted(found, reverse=True)

    def resume(self, key: str, delete: bool = True, max_step: int | None = None) -> dict[str, Any] | None:
        """The newest checkpoint written by run ``key`` at a step <= ``max_step`` (with its ``path``), or None;
        unreadable files and those of other runs are deleted when ``delete`` (the first process only; listed in
        ``removed`` with the reason)."""
        self.removed = []
        found = None
        for step, path in self.files():
            if max_step is not None and step > max_step:
                continue  # a longer run's: not a state of this one
            try:
                ckpt = load_checkpoint(path)
                reason = None if ckpt.get("run_key") == key else "written by another run (config, data or inputs)"
            except WeightsError as exc:
                ckpt, reason = None, exc.problem
            if reason is None:
                found = found or {**ckpt, "path": str(path)}
                continue
            if delete:
                self.removed.append(f"{path.name}: {reason}")
                path.unlink(missing_ok=True)
        return found

    def save(self, step: int, payload: dict[str, Any]) -> Path:
        """Write ``step-<step>.pt`` atomically, then delete all but the newest ``keep``."""
        path = self.directory / f"step-{step}.pt"
        save_checkpoint(path, payload)
        for _, old in self.files()[self.keep:]:
            old.unlink(missing_ok=True)
        return path


def truncate_log(path: str | Path, step: int) -> None:
    """Keep the header and the rows with ``step`` <= ``step`` of a loss CSV (its first column: the step), so a
    resumed run continues it without the rows a killed run wrote after its last checkpoint."""
    path = Path(path)
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and float(r[0]) <= step]
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        csv.writer(f).writerows(kept)
    os.replace(tmp, path)


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
