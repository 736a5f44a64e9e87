"""Training Wav2Lip on preprocessed clips: the lip-sync expert first, then the generator (L1 + sync loss).

Deterministic on CPU: each step draws its batch from ``np.random.default_rng([seed, step])`` (streamed by a
DataLoader, whatever its worker count); its learning rate and whether the sync loss is on depend on the step
number only, so a resumed run makes the same updates as an uninterrupted one. Checkpoints hold ``kind, config,
train, step, state_dict, optimizer, scaler, run_key`` and a CSV loss log is written beside them (``<ckpt>.csv``).
Periodic checkpoints go to ``RunOptions.checkpoint_dir`` (resumed automatically) or else overwrite ``out``; under
``torchrun`` the processes share each global batch (``stsa.train.distributed``).
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from baselines.wav2lip.checkpoint import load_checkpoint, load_into
from baselines.wav2lip.data import Wav2LipData, expert_batch, generator_batch, list_clip_dirs
from baselines.wav2lip.model import Wav2LipConfig, Wav2LipGenerator, masked_input
from stsa.modules.sync_expert import SyncExpert, SyncExpertConfig, stack_window, sync_bce
from stsa.train import checkpoint as ck
from stsa.train import distributed as D
from stsa.train.data import StepBatches, make_loader
from stsa.train.precision import Precision

LR_SCHEDULES = ("constant", "cosine")
EXPERT_GOOD_ENOUGH = 0.6  # mean BCE below which the expert's sync loss is switched on (ln 2 = 0.693 is chance)
RECENT = 20  # steps averaged into a checkpoint's reported loss


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch: int
    lr: float
    syncnet_wt: float = 0.03  # Wav2Lip's weight once the expert is good enough
    ckpt_every: int = 100
    seed: int = 0
    sync_after: float = 0.0  # fraction of the steps trained on L1 alone before the sync loss is switched on
    lr_schedule: str = "constant"  # as the original Wav2Lip; or "cosine": lr * (1 + cos(pi * step / steps)) / 2

    def __post_init__(self):
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES} (got {self.lr_schedule!r})")

    def trajectory(self) -> dict:
        """The fields the updates depend on: all but ``ckpt_every``, and ``steps`` only when the learning rate or
        the sync-loss switch depends on it (so a longer constant-rate run continues a shorter one)."""
        out = {k: v for k, v in asdict(self).items() if k != "ckpt_every"}
        if self.lr_schedule == "constant" and not self.sync_after:
            out.pop("steps")
        return out

    def lr_at(self, step: int) -> float:
        """The learning rate of the update made at 0-based ``step`` (a function of the step number only)."""
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, self.steps) / self.steps))
        return self.lr

    @classmethod
    def preset(cls, model: str, name: str) -> TrainConfig:
        table = {
            ("expert", "demo"): cls(steps=300, batch=16, lr=1e-3),
            ("expert", "paper"): cls(steps=250_000, batch=64, lr=1e-4, ckpt_every=10_000),
            # L1 alone for the first half (with the sync loss from step 0 the small generator often learned to fool
            # the demo expert with mouth artefacts), and a higher lr decayed to ~0: baselines/README.md
            ("wav2lip", "demo"): cls(steps=250, batch=2, lr=1e-2, sync_after=0.5, lr_schedule="cosine"),
            ("wav2lip", "paper"): cls(steps=250_000, batch=16, lr=1e-4, ckpt_every=3000),
        }
        return table[(model, name)]


@dataclass(frozen=True)
class RunOptions:
    """How a run executes: none of it changes the result except ``precision``."""

    workers: int = 0  # DataLoader worker processes
    precision: str = "fp32"  # fp32 | bf16 | fp16 autocast
    checkpoint_dir: Path | None = None  # periodic checkpoints + automatic resume; None = periodic saves to `out`
    keep: int = 3  # periodic checkpoints kept


def _check_steps(steps: int) -> None:
    if steps <= 0:
        raise ValueError(f"--steps must be > 0 (got {steps}); to use the released weights skip training and run "
                         "the wav2lip adapter with --option weights=wav2lip (or wav2lip_gan)")


def _save(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


class _LossLog:
    def __init__(self, path: Path, fields: list[str], start: int):
        self.path, self.fields = path, ["step", *fields]
        if start == 0 or not path.is_file():
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(self.fields)
        else:
            ck.truncate_log(path, start)

    def write(self, step: int, values: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([step, *(f"{values[k]:.6f}" for k in self.fields[1:])])


def _train_config(model: str, preset: str, steps: int | None, batch: int | None, seed: int | None = None,
                  save_every: int | None = None) -> TrainConfig:
    """The preset's schedule with the caller's overrides, checked."""
    tcfg = TrainConfig.preset(model, preset)
    overrides = {"steps": steps, "batch": batch, "seed": seed, "ckpt_every": save_every}
    tcfg = replace(tcfg, **{k: v for k, v in overrides.items() if v is not None})
    _check_steps(tcfg.steps)
    return tcfg


# A step's objective: (batch from the loader, step) -> (loss to minimise, values to log)
StepLoss = Callable[[dict, int], tuple[torch.Tensor, dict[str, torch.Tensor]]]


def _run(kind: str, model: torch.nn.Module, config: dict, tcfg: TrainConfig, dataset: Wav2LipData, draw,
         step_loss: StepLoss, fields: list[str], out: Path, device: torch.device, run: RunOptions, progress: bool,
         key: dict, extra: dict) -> dict[str, list[float]]:
    """The training loop both models share: resume, stream batches, autocast, average gradients over the
    processes, log every step, checkpoint every ``ckpt_every`` steps and write ``out`` at the end. Returns the last
    RECENT logged values per field."""
    from tqdm import tqdm

    world = D.current()
    if world.size > 1:
        D.global_batchnorm(model)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    precision = Precision(run.precision, device)
    scaler = precision.scaler()
    run_key = ck.run_key({"kind": kind, "config": config, "train": tcfg.trajectory(), "data": dataset.hash,
                          "precision": precision.name, **key})
    periodic = ck.PeriodicCheckpoints(run.checkpoint_dir, run.keep) if run.checkpoint_dir else None
    found = periodic.resume(run_key, delete=world.main, max_step=tcfg.steps) if periodic else None
    if found is None and out.is_file():
        found = load_checkpoint(out)
        same_run = found.get("kind") == kind and found.get("run_key") == run_key
        found = found if same_run and int(found["step"]) <= tcfg.steps else None
    start, recent = 0, {f: [] for f in fields}
    if found is not None:
        model.load_state_dict(found["state_dict"])
        opt.load_state_dict(found["optimizer"])
        scaler.load_state_dict(found.get("scaler", {}))
        start, recent = int(found["step"]), {f: list(found.get("recent", {}).get(f, [])) for f in fields}
        if world.main:
            print(f"resuming {kind} from step {start} ({found.get('path', out)})", file=sys.stderr, flush=True)
    D.broadcast_module(model, world)
    log = _LossLog(Path(str(out) + ".csv"), fields, start) if world.main else None

    def payload(step: int) -> dict:
        return {"kind": kind, "config": config, "train": asdict(tcfg), "step": step, "run_key": run_key,
                "state_dict": model.state_dict(), "optimizer": opt.state_dict(), "scaler": scaler.state_dict(),
                "precision": precision.name, "recent": recent,
                **{k: (v(recent) if callable(v) else v) for k, v in extra.items()}}

    loader = make_loader(dataset, StepBatches(draw, tcfg.batch, tcfg.seed, start, tcfg.steps, world), run.workers,
                         device)
    params = list(model.parameters())
    model.train()
    for step, batch in enumerate(tqdm(loader, desc=kind, disable=not (progress and world.main), initial=start,
                                      total=tcfg.steps), start):
        with precision.autocast():
            loss, values = step_loss(batch, step)
        for group in opt.param_groups:
            group["lr"] = tcfg.lr_at(step)
        opt.zero_grad()
        scaler.scale(loss).backward()
        D.average_gradients(params, world)
        scaler.step(opt)
        scaler.update()
        logged = D.mean_values({k: float(v.detach()) for k, v in values.items()}, world)
        for f in fields:
            recent[f] = (recent[f] + [logged[f]])[-RECENT:]
        if log is not None:
            log.write(step + 1, logged)
            if (step + 1) % tcfg.ckpt_every == 0 and step + 1 < tcfg.steps:
                if periodic is not None:
                    periodic.save(step + 1, payload(step + 1))
                else:
                    _save(out, payload(step + 1))
    if world.main:
        _save(out, payload(tcfg.steps))
    return recent


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def train_expert(data: str | Path, out: str | Path, preset: str = "demo", steps: int | None = None,
                 device=None, progress: bool = True, batch: int | None = None, seed: int | None = None,
                 save_every: int | None = None, run: RunOptions | None = None) -> dict:
    """Train the lip-sync expert (contrastive BCE on cosine similarity); returns {step, loss, path}."""
    from stsa.device import resolve_device

    device = resolve_device(device)
    cfg, tcfg = SyncExpertConfig.preset(preset), _train_config("expert", preset, steps, batch, seed, save_every)
    torch.manual_seed(tcfg.seed)
    dataset = Wav2LipData(list_clip_dirs(data, "train"))
    model = SyncExpert(cfg).to(device)

    def step_loss(b: dict, step: int):
        faces, mel, y = expert_batch(b, device)
        a, v = model(mel, stack_window(faces))
        loss = sync_bce(a, v, y)
        return loss, {"loss": loss}

    recent = _run("expert", model, asdict(cfg), tcfg, dataset, dataset.expert_picks, step_loss, ["loss"],
                  Path(out), device, run or RunOptions(), progress, {}, {"loss": lambda r: _mean(r["loss"])})
    return {"step": tcfg.steps, "loss": _mean(recent["loss"]), "path": str(out)}


def load_expert(path: str | Path, device=None) -> tuple[SyncExpert, float | None]:
    """A frozen expert from our checkpoint (config inside) or the released lipsync_expert.pth; plus its loss."""
    ckpt = load_checkpoint(path)
    cfg = SyncExpertConfig(**ckpt["config"]) if ckpt.get("kind") == "expert" else SyncExpertConfig()
    model = SyncExpert(cfg)
    load_into(model, path, None if ckpt.get("kind") == "expert" else "lipsync_expert")
    model.eval().requires_grad_(False)
    return model.to(device or "cpu"), ckpt.get("loss")


def train_wav2lip(data: str | Path, out: str | Path, preset: str = "demo", steps: int | None = None,
                  expert: str | Path | None = None, device=None, progress: bool = True,
                  batch: int | None = None, seed: int | None = None, save_every: int | None = None,
                  run: RunOptions | None = None) -> dict:
    """Train the generator: (1 - w) * L1 + w * sync loss, w = syncnet_wt when an expert is given and good enough
    (its training loss below EXPERT_GOOD_ENOUGH) from step ``sync_after * steps`` on, else 0 (the sync loss is still
    computed and logged). Returns {step, l1, sync, syncnet_wt, path}; syncnet_wt is the weight once on."""
    from stsa.device import resolve_device

    device = resolve_device(device)
    cfg, tcfg = Wav2LipConfig.preset(preset), _train_config("wav2lip", preset, steps, batch, seed, save_every)
    torch.manual_seed(tcfg.seed)
    dataset = Wav2LipData(list_clip_dirs(data, "train"), mel_shift=cfg.mel_shift)
    model = Wav2LipGenerator(cfg).to(device)
    sync_model, wt = None, 0.0
    if expert is not None:
        sync_model, expert_loss = load_expert(expert, device)
        wt = tcfg.syncnet_wt if expert_loss is None or expert_loss < EXPERT_GOOD_ENOUGH else 0.0

    def step_loss(batch: dict, step: int):
        gt, ref, mels, sync_mel = generator_batch(batch, device)
        b, _, t, h, w = gt.shape
        gt_f = gt.permute(0, 2, 1, 3, 4).reshape(b * t, 3, h, w)
        ref_f = ref.permute(0, 2, 1, 3, 4).reshape(b * t, 3, h, w)
        pred = model(mels.reshape(b * t, 1, 80, 16), masked_input(gt_f, ref_f))
        l1 = torch.nn.functional.l1_loss(pred.float(), gt_f)
        sync = torch.zeros((), device=device)
        if sync_model is not None:
            window = pred.reshape(b, t, 3, h, w).permute(0, 2, 1, 3, 4)
            a, v = sync_model(sync_mel, stack_window(window))
            sync = sync_bce(a, v, torch.ones(b, device=device))
        sync_w = wt if step >= tcfg.sync_after * tcfg.steps else 0.0
        loss = sync_w * sync + (1 - sync_w) * l1
        return loss, {"loss": loss, "l1": l1, "sync": sync}

    key = {"expert": ck.file_sha256(expert) if expert is not None else None}
    extra = {"syncnet_wt": wt, "l1": lambda r: _mean(r["l1"])}
    recent = _run("wav2lip", model, cfg.to_dict(), tcfg, dataset, dataset.generator_picks, step_loss,
                  ["loss", "l1", "sync"], Path(out), device, run or RunOptions(), progress, key, extra)
    return {"step": tcfg.steps, "l1": _mean(recent["l1"]), "sync": _mean(recent["sync"]), "syncnet_wt": wt,
            "path": str(out)}
