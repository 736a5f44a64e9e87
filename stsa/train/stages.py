"""The three STSA training stages: guidance (stage 1), synthesis (stage 2, ground-truth heatmaps) and end-to-end
fine-tuning (predicted heatmaps). One ``Trainer`` runs any stage; ``train(options)`` is the workflow entry point.

Step k trains on the batch drawn from ``default_rng([seed, k])`` with torch seeded by ``step_seed(seed, k, rank)``
(dropout, CIL shuffles), so a resumed run makes the updates of an uninterrupted one; under ``torchrun`` the
processes share each global batch (``stsa.train.distributed``).
"""

from __future__ import annotations

import csv
import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from stsa.errors import StsaBenchError, WeightsError
from stsa.train import ABLATIONS, STAGES
from stsa.train import checkpoint as ck
from stsa.train import distributed as D
from stsa.train import losses as L
from stsa.train.data import StepBatches, TrainingData, make_loader, mask_lower_half, step_seed, to_device
from stsa.train.precision import Precision

GUIDANCE_WEIGHTS = {"heatmap": 1.0, "keypoint": 1.0, "velocity": 1.0}
# (steps, windows per batch) per preset and stage. demo: with the expert ~10 CPU-minutes on one thread (measured CPU
# s/step: guidance ~1, synthesis ~7, finetune ~12 at 2 windows); see BENCHMARKS.md.
SCHEDULE = {
    "demo": {"guidance": (120, 8), "synthesis": (40, 2), "finetune": (10, 2)},
    "paper": {"guidance": (200_000, 16), "synthesis": (300_000, 4), "finetune": (50_000, 4)},
}
LEARNING_RATES = {"guidance": 1e-3, "synthesis": 5e-4, "finetune": 1e-4, "discriminator": 5e-4,
                  "paper_scale": 0.1}
# demo preset: stage-2 rates x4 (the residual demo renderer, few steps); the paper preset keeps paper_scale
DEMO_LR_SCALE = {"synthesis": 4.0, "finetune": 4.0, "discriminator": 4.0}
SAVE_EVERY = {"demo": 100, "paper": 2000}  # steps between periodic checkpoints
# weights no stage trains (the renderer's VGG19 under `perceptual.`, kept for the release's state-dict layout):
# left out of periodic checkpoints and rebuilt from the seed on resume
FROZEN_PREFIXES = {"renderer": ("perceptual.",)}


def learning_rate(preset: str, name: str) -> float:
    """Adam learning rate of a stage (or ``discriminator``) for a preset."""
    scale = LEARNING_RATES["paper_scale"] if preset == "paper" else DEMO_LR_SCALE.get(name, 1.0)
    return LEARNING_RATES[name] * scale


@dataclass
class TrainOptions:
    """Everything one ``stsa-bench train`` run needs."""

    stage: str
    data: Path
    out: Path
    config: str = "demo"  # demo | paper | FILE.yaml
    steps: int | None = None
    batch: int | None = None
    resume: bool = False
    expert: Path | None = None
    ablation: str = "none"
    init: list[Path] = field(default_factory=list)
    device: str | None = None
    seed: int = 0
    split: str | None = "train"
    save_every: int | None = None  # None = the preset's SAVE_EVERY
    progress: bool = True
    threads: int | None = None  # torch CPU threads of the training computation (None = torch's default)
    workers: int = 0  # DataLoader worker processes (0 = items computed in the training process)
    precision: str = "fp32"  # fp32 | bf16 | fp16 (stsa.train.precision)
    checkpoint_dir: Path | None = None  # periodic checkpoints + automatic resume; None = periodic saves to `out`
    keep: int = 3  # periodic checkpoints kept


def apply_ablation(cfg, ablation: str):
    """Table III switches on a config copy."""
    if ablation not in ABLATIONS:
        raise ValueError(f"unknown ablation {ablation!r}; choose from {ABLATIONS}")
    if ablation == "no_cil":
        return cfg.ablate(use_cil=False)
    if ablation == "no_spatial":
        return cfg.ablate(use_spatial=False)
    if ablation == "no_temporal":
        return cfg.ablate(use_temporal=False)
    if ablation == "no_sync":
        return dataclasses.replace(cfg, use_sync_loss=False)
    if ablation == "no_ft":
        return dataclasses.replace(cfg, finetune_end_to_end=False)
    return cfg


def preset_name(cfg) -> str:
    from stsa.config import STSAConfig

    return "demo" if cfg.guidance.d_model == STSAConfig.demo().guidance.d_model else "paper"


def build_expert(path: Path | None, device: torch.device) -> tuple[nn.Module | None, str]:
    """The frozen SyncNet expert: released ``lipsync_expert`` when present, else ``path``; (None, why) if neither."""
    from stsa.modules.sync_expert import SyncExpert, SyncExpertConfig
    from stsa.weights import load_state_dict

    try:
        state, source = load_state_dict("lipsync_expert"), "lipsync_expert (release)"
        state = {k.removeprefix("module."): v for k, v in state.items()}
    except WeightsError as exc:
        if path is None:
            return None, f"none ({exc.problem}; no --expert given)"
        state, source = ck.load_expert_state(path), str(path)
    width = state["face_encoder.0.conv_block.0.weight"].shape[0] / 32
    expert = SyncExpert(SyncExpertConfig(width=width))
    expert.load_state_dict(state)
    for p in expert.parameters():
        p.requires_grad_(False)
    return expert.to(device).eval(), source


def build_models(cfg, stage: str, device: torch.device) -> dict[str, nn.Module]:
    """The modules a stage trains (guidance and/or renderer + discriminator)."""
    from stsa.model import FaceRenderer, GuidancePredictor
    from stsa.modules.discriminator import PatchDiscriminator

    models: dict[str, nn.Module] = {}
    if stage in ("guidance", "finetune"):
        models["guidance"] = GuidancePredictor(cfg)
    if stage in ("synthesis", "finetune"):
        models["renderer"] = FaceRenderer(cfg)
        models["discriminator"] = PatchDiscriminator(channels=16 if preset_name(cfg) == "demo" else 64)
    for name, m in models.items():
        if name == "renderer":
            for key, p in m.named_parameters():
                if key.startswith("perceptual."):
                    p.requires_grad_(False)
        m.to(device).train()
    return models


def _params(m: nn.Module) -> list[nn.Parameter]:
    return [p for p in m.parameters() if p.requires_grad]


class Trainer:
    """One stage on one dataset; ``step()`` runs one optimisation step and returns its losses."""

    def __init__(self, opts: TrainOptions, cfg=None, data: TrainingData | None = None):
        from stsa.device import resolve_device

        if opts.stage not in STAGES:
            raise ValueError(f"unknown stage {opts.stage!r}; choose from {STAGES}")
        self.opts = opts
        self.world = D.current()
        self.device = resolve_device(opts.device)
        if opts.threads:
            torch.set_num_threads(opts.threads)
        base = ck.load_config(opts.config) if cfg is None else cfg
        self.cfg = apply_ablation(base, opts.ablation)
        preset = preset_name(self.cfg)
        steps, batch = SCHEDULE[preset][opts.stage]
        self.total_steps = steps if opts.steps is None else opts.steps
        self.batch_size = batch if opts.batch is None else opts.batch
        self.save_every = opts.save_every or SAVE_EVERY[preset]
        self.precision = Precision(opts.precision, self.device)
        torch.manual_seed(opts.seed)  # initial weights: the same on every process
        self.data = data if data is not None else TrainingData(opts.data, self.cfg.audio, opts.split,
                                                                window=self.cfg.T, n_ref=self.cfg.n_ref)
        self.models = build_models(self.cfg, opts.stage, self.device)
        if self.world.size > 1:
            for m in self.models.values():
                D.global_batchnorm(m)
        self.step_no = 0
        self.losses_used: dict[str, float] = {}
        self.expert_source = "not used"
        self.expert = None
        self.recon = None
        if opts.stage in ("synthesis", "finetune"):
            self._init_stage2_losses()
        if opts.stage == "guidance" or opts.stage == "finetune":
            self.losses_used.update(GUIDANCE_WEIGHTS)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        lr_g = learning_rate(preset, opts.stage)
        gen = [p for n in ("guidance", "renderer") if n in self.models for p in _params(self.models[n])]
        self.optimizers["generator"] = torch.optim.Adam(gen, lr=lr_g, betas=(0.5, 0.999))
        if "discriminator" in self.models:
            self.optimizers["discriminator"] = torch.optim.Adam(
                _params(self.models["discriminator"]), lr=learning_rate(preset, "discriminator"),
                betas=(0.5, 0.999))
        self.scalers = {k: self.precision.scaler() for k in self.optimizers}
        for path in opts.init:
            self.load_init(path)
        self.run_key = ck.run_key(self.run_spec())
        self.periodic = ck.PeriodicCheckpoints(opts.checkpoint_dir, opts.keep) if opts.checkpoint_dir else None
        self.resumed_from: str | None = None
        if self.periodic is not None:
            found = self.periodic.resume(self.run_key, delete=self.world.main, max_step=self.total_steps)
            if found is not None:
                self._restore(found)
                self.resumed_from = found["path"]
        if self.resumed_from is None and opts.resume and Path(opts.out).is_file():
            self.resume(opts.out)
            self.resumed_from = str(opts.out)
        for m in self.models.values():
            D.broadcast_module(m, self.world)

    def run_spec(self) -> dict:
        """What the updates depend on (not the total steps: the learning rates are constant, the batches
        step-seeded, so a longer run continues a shorter one); its hash is the periodic checkpoints' run key."""
        expert = self.expert_source
        if self.opts.expert is not None and expert == str(self.opts.expert):
            expert = ck.file_sha256(self.opts.expert)
        return {"stage": self.opts.stage, "config": ck.config_to_dict(self.cfg), "ablation": self.opts.ablation,
                "seed": self.opts.seed, "batch": self.batch_size, "data": self.data.hash,
                "precision": self.precision.name, "expert": expert,
                "init": [ck.file_sha256(p) for p in self.opts.init]}

    # ------------------------------------------------------------------ setup
    def _init_stage2_losses(self) -> None:
        self.recon, recon_name = L.build_reconstruction_loss()
        self.recon.to(self.device)
        w = L.LOSS_WEIGHTS
        self.losses_used[recon_name] = w["perceptual"]
        self.losses_used["gan"] = w["gan"]
        self.losses_used["feature_matching"] = w["feature_matching"]
        if self.cfg.use_sync_loss:
            self.expert, self.expert_source = build_expert(self.opts.expert, self.device)
            if self.expert is not None:
                self.losses_used["sync"] = w["sync"]
        else:
            self.expert_source = "disabled (ablation)"
        if self.cfg.use_cil:
            self.losses_used["mi"] = w["mi"]

    def load_init(self, path: Path) -> None:
        """Initialise model weights from another stage's checkpoint (e.g. guidance + synthesis -> finetune)."""
        ckpt = ck.load_checkpoint(path)
        loaded = []
        for name, state in ckpt["models"].items():
            if name in self.models:
                self.models[name].load_state_dict(state)
                loaded.append(name)
        if not loaded:
            raise StsaBenchError(path, f"holds none of the models this stage trains ({sorted(self.models)})",
                                 "pass the guidance and synthesis checkpoints with --init")

    def resume(self, path: Path) -> None:
        """Continue from a checkpoint of the same stage and config (``--resume`` from ``--out``)."""
        ckpt = ck.load_checkpoint(path)
        if ckpt["stage"] != self.opts.stage:
            raise StsaBenchError(path, f"is a {ckpt['stage']} checkpoint, not {self.opts.stage}",
                                 "resume with the same --stage or choose another --out")
        if ckpt["config"] != ck.config_to_dict(self.cfg):
            raise StsaBenchError(path, "was trained with another config/ablation",
                                 "resume with the same --config/--ablation or choose another --out")
        self._restore(ckpt)

    def _restore(self, ckpt: dict) -> None:
        for name, state in ckpt["models"].items():
            missing, unexpected = self.models[name].load_state_dict(state, strict=False)
            frozen = FROZEN_PREFIXES.get(name, ())
            if unexpected or any(not k.startswith(frozen) for k in missing):
                raise StsaBenchError(ckpt.get("path"), f"{name} weights do not fit this model "
                                     f"(missing {missing[:3]}, unexpected {unexpected[:3]})", "train again")
        for name, state in ckpt["optimizers"].items():
            self.optimizers[name].load_state_dict(state)
        for name, state in ckpt.get("scalers", {}).items():
            self.scalers[name].load_state_dict(state)
        self.step_no = int(ckpt["step"])

    # ------------------------------------------------------------------ steps
    def next_batch(self) -> dict[str, torch.Tensor]:
        """This process's share of the batch of the current step, on the device."""
        picks = StepBatches(self.data.draw, self.batch_size, self.opts.seed, 0, 0, self.world).picks(self.step_no)
        return self.data.batch(picks, self.device)

    def seed_step(self) -> None:
        """Seed torch for the current step of this process (dropout masks, CIL shuffles)."""
        torch.manual_seed(step_seed(self.opts.seed, self.step_no, self.world.rank))

    def step(self, batch: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
        """One optimisation step: without ``batch`` the run's step (its batch and seed), else on ``batch`` with
        torch's random state as the caller left it. Losses averaged over the processes."""
        if batch is None:
            batch = self.next_batch()
            self.seed_step()
        for m in self.models.values():
            m.train()
        if self.opts.stage == "guidance":
            out = self._guidance_step(batch)
        else:
            out = self._render_step(batch, predicted=self.opts.stage == "finetune")
        self.step_no += 1
        return D.mean_values(out, self.world)

    def _update(self, name: str, loss: torch.Tensor) -> None:
        """Backward (loss-scaled in fp16), gradients averaged over the processes, optimiser step."""
        opt, scaler = self.optimizers[name], self.scalers[name]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        D.average_gradients([p for g in opt.param_groups for p in g["params"]], self.world)
        scaler.step(opt)
        scaler.update()

    def _guidance_forward(self, b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        t = self.cfg.T
        heat, lmk = self.models["guidance"](b["audio"], b["pose_hm"], b["ref_hm"])  # (B*T,1,128,128), (B*T,2,57)
        terms = L.guidance_losses(heat, b["face_hm"].flatten(0, 1), lmk, b["content"].flatten(0, 1), t)
        return heat, terms

    def _guidance_step(self, b: dict[str, torch.Tensor]) -> dict[str, float]:
        with self.precision.autocast():
            _, terms = self._guidance_forward(b)
            total = sum(GUIDANCE_WEIGHTS[k] * v for k, v in terms.items())
        self._update("generator", total)
        return {"total": float(total.detach()), **{k: float(v.detach()) for k, v in terms.items()}}

    def _render_step(self, b: dict[str, torch.Tensor], predicted: bool) -> dict[str, float]:
        with self.precision.autocast():
            total, terms, fake = self._generator_loss(b, predicted)
        self._update("generator", total)
        disc = self.models["discriminator"]
        with self.precision.autocast():  # discriminator step on the detached fakes
            d_loss = L.gan_discriminator_loss(disc(b["faces"].flatten(0, 1)), disc(fake.detach()))
        self._update("discriminator", d_loss)
        return {"total": float(total.detach()), **{k: float(v.detach()) for k, v in terms.items()},
                "discriminator": float(d_loss.detach())}

    def _generator_loss(self, b: dict[str, torch.Tensor], predicted: bool
                        ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Stage-2 generator objective: (total, its terms, the fakes (B*T,3,128,128))."""
        bsz, t = b["faces"].shape[:2]
        terms: dict[str, torch.Tensor] = {}
        if predicted:
            heat, g_terms = self._guidance_forward(b)
            terms.update(g_terms)
            target_hm = heat.clamp(max=1.0)  # release: values above 1 set to 1
        else:
            target_hm = b["face_hm"].flatten(0, 1)
        faces = b["faces"].flatten(0, 1)  # (B*T,3,128,128)
        rep = lambda x: x.repeat_interleave(t, dim=0)  # noqa: E731 - (B,...) -> (B*T,...)
        out = self.models["renderer"](
            mask_lower_half(faces)[:, None],  # (B*T,1,3,128,128)
            target_hm.expand(-1, 3, -1, -1)[:, None],  # (B*T,1,3,128,128)
            rep(b["ref_faces"]),  # (B*T,N,3,128,128)
            rep(b["ref_hm"].expand(-1, -1, 3, -1, -1)),  # (B*T,N,3,128,128)
            b["audio"].flatten(0, 1)[:, None],  # (B*T,1,A,W)
        )
        fake = out.image  # (B*T,3,128,128)
        disc = self.models["discriminator"]
        w = L.LOSS_WEIGHTS
        terms["perceptual"] = self.recon(fake, faces)
        for p in disc.parameters():
            p.requires_grad_(False)
        fake_feats = disc(fake)
        real_feats = disc(faces)
        for p in disc.parameters():
            p.requires_grad_(True)
        terms["gan"] = L.gan_generator_loss(fake_feats)
        terms["feature_matching"] = L.feature_matching_loss(real_feats, fake_feats)
        total = w["perceptual"] * terms["perceptual"] + w["gan"] * terms["gan"] + \
            w["feature_matching"] * terms["feature_matching"]
        if self.expert is not None and t == 5:
            terms["sync"] = L.sync_loss(self.expert, b["sync_mel"], fake.reshape(bsz, t, *fake.shape[1:]))
            total = total + w["sync"] * terms["sync"]
        mi = L.mi_loss(getattr(out, "mi_lower_bound", None)) if self.cfg.use_cil else None
        if mi is not None:
            terms["mi"] = mi
            total = total + w["mi"] * mi
        if predicted:
            total = total + sum(GUIDANCE_WEIGHTS[k] * terms[k] for k in GUIDANCE_WEIGHTS)
        return total, terms, fake

    # ------------------------------------------------------------------ persistence
    def payload(self, periodic: bool = False) -> dict:
        """The checkpoint dict; ``periodic`` leaves out the frozen weights (FROZEN_PREFIXES)."""
        def state(name: str, model: nn.Module) -> dict:
            frozen = FROZEN_PREFIXES.get(name, ()) if periodic else ()
            return {k: v for k, v in model.state_dict().items() if not (frozen and k.startswith(frozen))}

        return {
            "stage": self.opts.stage, "step": self.step_no, "config": ck.config_to_dict(self.cfg),
            "losses": sorted(self.losses_used), "loss_weights": dict(self.losses_used),
            "ablation": self.opts.ablation, "data_hash": self.data.hash, "data_root": str(self.opts.data),
            "clips": list(self.data.clip_ids), "seed": self.opts.seed, "expert": self.expert_source,
            "precision": self.precision.name, "run_key": self.run_key,
            "models": {k: state(k, m) for k, m in self.models.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "scalers": {k: s.state_dict() for k, s in self.scalers.items()},
        }

    def save(self, path: Path | None = None) -> None:
        ck.save_checkpoint(path or self.opts.out, self.payload())

    def save_periodic(self) -> None:
        if self.periodic is None:
            self.save()
        else:
            self.periodic.save(self.step_no, self.payload(periodic=True))

    def run(self) -> dict:
        """Train to ``total_steps``: progress bar, loss CSV beside ``out``, a periodic checkpoint every
        ``save_every`` steps, and ``out`` written (atomically) at the end, by the first process only."""
        from tqdm import tqdm

        main = self.world.main
        log_path = loss_log_path(self.opts.out)
        fresh = self.step_no == 0 or not log_path.is_file()
        if main and not fresh:
            ck.truncate_log(log_path, self.step_no)
        if main and self.periodic is not None:
            for line in self.periodic.removed:
                print(f"removed periodic checkpoint {line}", file=sys.stderr)
        if main and self.resumed_from:
            print(f"resuming {self.opts.stage} from step {self.step_no} ({self.resumed_from})", file=sys.stderr,
                  flush=True)
        batches = StepBatches(self.data.draw, self.batch_size, self.opts.seed, self.step_no, self.total_steps,
                              self.world)
        loader = make_loader(self.data, batches, self.opts.workers, self.device)
        t0 = time.perf_counter()
        rows: list[dict] = []
        with tqdm(total=self.total_steps, initial=self.step_no, desc=f"train {self.opts.stage}",
                  disable=not (self.opts.progress and main), mininterval=2.0) as bar:
            for batch in loader:
                self.seed_step()
                losses = self.step(to_device(batch, self.device))
                rows.append({"step": self.step_no, "time_s": round(time.perf_counter() - t0, 3), **losses})
                bar.update(1)
                bar.set_postfix(loss=f"{losses['total']:.4f}", refresh=False)
                if self.step_no % self.save_every == 0 and self.step_no < self.total_steps and main:
                    fresh = _append_rows(log_path, rows, fresh)
                    rows = []
                    self.save_periodic()
        if main:
            _append_rows(log_path, rows, fresh)
            self.save()
        return {"stage": self.opts.stage, "steps": self.step_no, "seconds": time.perf_counter() - t0,
                "losses": sorted(self.losses_used), "expert": self.expert_source, "out": str(self.opts.out),
                "resumed_from": self.resumed_from, "processes": self.world.size}


def loss_log_path(out: Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".losses.csv")


def _append_rows(path: Path, rows: list[dict], fresh: bool) -> bool:
    if not rows:
        return fresh
    keys = list(dict.fromkeys(k for r in rows for k in r))
    mode = "w" if fresh else "a"
    if not fresh and path.is_file():
        with path.open(newline="") as f:
            header = next(csv.reader(f), None)
        if header:
            keys = header + [k for k in keys if k not in header]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        if fresh:
            writer.writeheader()
        writer.writerows(rows)
    return False


def train(opts: TrainOptions) -> dict:
    """Run one stage (the workflow's entry point; under ``torchrun`` one process of a data-parallel run).
    Fine-tuning with ``finetune_end_to_end`` off (the ``no_ft`` ablation) or ``--steps 0`` only merges the
    ``--init`` checkpoints into ``opts.out``."""
    if opts.stage == "finetune" and not opts.init and not opts.resume:
        raise StsaBenchError(opts.out, "fine-tuning needs the trained stages",
                             "pass --init GUIDANCE_CKPT --init SYNTHESIS_CKPT")
    _, device = D.setup(opts.device)
    completed = False
    try:
        trainer = Trainer(dataclasses.replace(opts, device=device))
        if opts.stage == "finetune" and not trainer.cfg.finetune_end_to_end:
            trainer.total_steps = 0
        result = trainer.run()
        completed = True
        return result
    finally:
        D.teardown(completed)
