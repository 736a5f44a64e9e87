"""Training Wav2Lip on preprocessed clips: the lip-sync expert first, then the generator (L1 + sync loss).

Deterministic on CPU: each step draws its batch from ``np.random.default_rng([seed, step])``; its learning rate
and whether the sync loss is on depend on the step number only, so a resumed run (same ``steps``) makes the same
updates as an uninterrupted one. Checkpoints hold ``kind, config, train, step, state_dict, optimizer`` and a CSV
loss log is written beside them (``<ckpt>.csv``).
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from baselines.wav2lip.checkpoint import load_checkpoint, load_into
from baselines.wav2lip.data import Wav2LipData, list_clip_dirs
from baselines.wav2lip.model import Wav2LipConfig, Wav2LipGenerator, masked_input
from stsa.modules.sync_expert import SyncExpert, SyncExpertConfig, stack_window, sync_bce

LR_SCHEDULES = ("constant", "cosine")
EXPERT_GOOD_ENOUGH = 0.6  # mean BCE below which the expert's sync loss is switched on (ln 2 = 0.693 is chance)


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


def _check_steps(steps: int) -> None:
    if steps <= 0:
        raise ValueError(f"--steps must be > 0 (got {steps}); to use the released weights skip training and run "
                         "the wav2lip adapter with --option weights=wav2lip (or wav2lip_gan)")


def _save(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def _resume(path: Path, kind: str, model: torch.nn.Module, opt: torch.optim.Optimizer) -> int:
    if not path.is_file():
        return 0
    ckpt = load_checkpoint(path)
    if ckpt.get("kind") != kind:
        return 0
    model.load_state_dict(ckpt["state_dict"])
    if "optimizer" in ckpt:
        opt.load_state_dict(ckpt["optimizer"])
    return int(ckpt.get("step", 0))


class _LossLog:
    def __init__(self, path: Path, fields: list[str], start: int):
        self.path, self.fields = path, ["step", *fields]
        if start == 0 or not path.is_file():
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(self.fields)

    def write(self, step: int, values: dict) -> None:
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([step, *(f"{values[k]:.6f}" for k in self.fields[1:])])


def _train_config(model: str, preset: str, steps: int | None, batch: int | None) -> TrainConfig:
    """The preset's schedule with the caller's step and batch overrides, checked."""
    tcfg = TrainConfig.preset(model, preset)
    if steps is not None:
        tcfg = replace(tcfg, steps=steps)
    if batch is not None:
        tcfg = replace(tcfg, batch=batch)
    _check_steps(tcfg.steps)
    return tcfg


def train_expert(data: str | Path, out: str | Path, preset: str = "demo", steps: int | None = None,
                 device=None, progress: bool = True, batch: int | None = None) -> dict:
    """Train the lip-sync expert (contrastive BCE on cosine similarity); returns {step, loss, path}."""
    from tqdm import tqdm

    from stsa.device import resolve_device

    device = resolve_device(device)
    cfg, tcfg = SyncExpertConfig.preset(preset), _train_config("expert", preset, steps, batch)
    torch.manual_seed(tcfg.seed)
    dataset = Wav2LipData(list_clip_dirs(data, "train"))
    model = SyncExpert(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    out = Path(out)
    start = _resume(out, "expert", model, opt)
    log = _LossLog(Path(str(out) + ".csv"), ["loss"], start)
    recent: list[float] = []
    model.train()
    for step in tqdm(range(start, tcfg.steps), desc="expert", disable=not progress, initial=start,
                     total=tcfg.steps):
        faces, mel, y = dataset.expert_batch(np.random.default_rng([tcfg.seed, step]), tcfg.batch)
        a, v = model(mel.to(device), stack_window(faces.to(device)))
        loss = sync_bce(a, v, y.to(device))
        for group in opt.param_groups:
            group["lr"] = tcfg.lr_at(step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        recent = (recent + [loss.item()])[-20:]
        log.write(step + 1, {"loss": loss.item()})
        if (step + 1) % tcfg.ckpt_every == 0 or step + 1 == tcfg.steps:
            _save(out, {"kind": "expert", "config": asdict(cfg), "train": asdict(tcfg), "step": step + 1,
                        "state_dict": model.state_dict(), "optimizer": opt.state_dict(),
                        "loss": float(np.mean(recent))})
    return {"step": tcfg.steps, "loss": float(np.mean(recent)) if recent else float("nan"), "path": str(out)}


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
                  batch: int | None = None) -> dict:
    """Train the generator: (1 - w) * L1 + w * sync loss, w = syncnet_wt when an expert is given and good enough
    (its training loss below EXPERT_GOOD_ENOUGH) from step ``sync_after * steps`` on, else 0 (the sync loss is still
    computed and logged). Returns {step, l1, sync, syncnet_wt, path}; syncnet_wt is the weight once on."""
    from tqdm import tqdm

    from stsa.device import resolve_device

    device = resolve_device(device)
    cfg, tcfg = Wav2LipConfig.preset(preset), _train_config("wav2lip", preset, steps, batch)
    torch.manual_seed(tcfg.seed)
    dataset = Wav2LipData(list_clip_dirs(data, "train"), mel_shift=cfg.mel_shift)
    model = Wav2LipGenerator(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr)
    sync_model, wt = None, 0.0
    if expert is not None:
        sync_model, expert_loss = load_expert(expert, device)
        wt = tcfg.syncnet_wt if expert_loss is None or expert_loss < EXPERT_GOOD_ENOUGH else 0.0
    out = Path(out)
    start = _resume(out, "wav2lip", model, opt)
    log = _LossLog(Path(str(out) + ".csv"), ["loss", "l1", "sync"], start)
    l1s: list[float] = []
    syncs: list[float] = []
    model.train()
    for step in tqdm(range(start, tcfg.steps), desc="wav2lip", disable=not progress, initial=start,
                     total=tcfg.steps):
        gt, ref, mels, sync_mel = dataset.generator_batch(np.random.default_rng([tcfg.seed, step]), tcfg.batch)
        b, _, t, h, w = gt.shape
        gt_f = gt.permute(0, 2, 1, 3, 4).reshape(b * t, 3, h, w).to(device)
        ref_f = ref.permute(0, 2, 1, 3, 4).reshape(b * t, 3, h, w).to(device)
        pred = model(mels.reshape(b * t, 1, 80, 16).to(device), masked_input(gt_f, ref_f))
        l1 = torch.nn.functional.l1_loss(pred, gt_f)
        sync = torch.zeros((), device=device)
        if sync_model is not None:
            window = pred.reshape(b, t, 3, h, w).permute(0, 2, 1, 3, 4)
            a, v = sync_model(sync_mel.to(device), stack_window(window))
            sync = sync_bce(a, v, torch.ones(b, device=device))
        sync_w = wt if step >= tcfg.sync_after * tcfg.steps else 0.0
        loss = sync_w * sync + (1 - sync_w) * l1
        for group in opt.param_groups:
            group["lr"] = tcfg.lr_at(step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        l1s, syncs = (l1s + [l1.item()])[-20:], (syncs + [sync.item()])[-20:]
        log.write(step + 1, {"loss": loss.item(), "l1": l1.item(), "sync": sync.item()})
        if (step + 1) % tcfg.ckpt_every == 0 or step + 1 == tcfg.steps:
            _save(out, {"kind": "wav2lip", "config": cfg.to_dict(), "train": asdict(tcfg), "step": step + 1,
                        "state_dict": model.state_dict(), "optimizer": opt.state_dict(), "syncnet_wt": wt,
                        "l1": float(np.mean(l1s))})
    return {"step": tcfg.steps, "l1": float(np.mean(l1s)) if l1s else float("nan"),
            "sync": float(np.mean(syncs)) if syncs else float("nan"), "syncnet_wt": wt, "path": str(out)}
