"""Training at scale (issue 14): peak memory against the number of clips, bf16 vs fp32 step time and gradients,
periodic checkpoint sizes.

    .venv/bin/python benchmarks/train_scale.py memory --clips 100 2000 --steps 10
    .venv/bin/python benchmarks/train_scale.py precision --preset demo --repeats 3 --frames 2
    .venv/bin/python benchmarks/train_scale.py checkpoints

``memory``: a synthetic preprocessed root of N 30-frame clips (a few distinct clip.npz hard-linked, so writing 2,000
takes seconds), then each training command (`stsa-bench train --stage guidance`, `stsa-bench baselines train` for
the expert and the generator, demo preset, one thread, no loader workers) in a fresh process that reports its peak
RSS (getrusage). ``--code DIR`` runs the commands from another checkout (e.g. the in-memory loader before
streaming). ``precision``: the renderer's forward + backward (``--preset``) and one demo training step per stage,
fp32 and bf16 alternating on the same weights and inputs: seconds and the relative L2 difference of the gradients.
``checkpoints``: bytes of each paper-preset stage's checkpoint as the rule's output (everything) and as a periodic
one (no frozen VGG19), and what the paper schedule writes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DISTINCT = 8  # distinct clip contents, hard-linked into every clip directory


def write_corpus(root: Path, n_clips: int, frames: int = 30, wav2vec: bool = False) -> Path:
    """``n_clips`` preprocessed clips (train split) under ``root``; DISTINCT of them distinct, the rest hard links."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from inference import synthetic_template

    from stsa.data.audio import melspectrogram
    from stsa.data.clip import ClipData, write_status

    rng = np.random.default_rng(0)
    sources = []
    for k in range(min(DISTINCT, n_clips)):
        crops, lm = synthetic_template(frames, seed=k)
        mel = melspectrogram(rng.normal(0, 0.1, frames * 640).astype(np.float32))
        d = root / "_src" / str(k)
        ClipData(crops, np.tile(np.array([0, 0, 128, 128], np.int32), (frames, 1)), lm, np.ones(frames, bool), mel,
                 wav2vec=rng.normal(0, 1, (2 * frames, 768)).astype(np.float32) if wav2vec else None,
                 points=lm * 128, frame_size=np.array([128, 128], np.int32)).save(d)
        write_status(d, {"status": "ok", "n_frames": frames})
        sources.append(d)
    rows = ["clip,status,reason,split"]
    for c in range(n_clips):
        d = root / f"spk{c // 100:03d}" / f"{c:05d}"
        d.mkdir(parents=True, exist_ok=True)
        for name in ("clip.npz", "status.json"):
            os.link(sources[c % len(sources)] / name, d / name)
        rows.append(f"{d.relative_to(root)},ok,,train")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


PEAK = ("import resource, sys, runpy; sys.argv = ['stsa-bench'] + sys.argv[1:]; code = 0\n"
        "try:\n    runpy.run_module('stsa.cli', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)\n")


def peak_rss(args: list[str], code: Path) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of ``stsa-bench ARGS`` in a fresh process importing from ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PEAK, *args], cwd=code, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("PEAK_RSS_KB")]
    if proc.returncode or not lines:
        raise RuntimeError(proc.stderr[-3000:])
    return int(lines[-1].split()[1]) / 1024, seconds


def bench_memory(clip_counts: list[int], steps: int, code: Path) -> list[dict]:
    out = []
    for n in clip_counts:
        with tempfile.TemporaryDirectory() as tmp:
            root = write_corpus(Path(tmp) / "pre", n)
            expert = Path(tmp) / "expert.pt"
            jobs = {
                "stsa guidance": ["train", "--stage", "guidance", "--config", "demo", "--data", str(root),
                                  "--out", f"{tmp}/g.pt", "--steps", str(steps), "--threads", "1", "--device", "cpu"],
                "wav2lip expert": ["baselines", "train", "--model", "expert", "--data", str(root), "--out",
                                   str(expert), "--steps", str(steps), "--threads", "1", "--device", "cpu"],
                "wav2lip generator": ["baselines", "train", "--model", "wav2lip", "--data", str(root), "--out",
                                      f"{tmp}/w.pt", "--expert", str(expert), "--steps", str(steps), "--threads", "1",
                                      "--device", "cpu"],
            }
            for name, args in jobs.items():
                mib, seconds = peak_rss(args, code)
                out.append({"job": name, "clips": n, "frames": n * 30, "peak_rss_mib": round(mib, 1),
                            "seconds": round(seconds, 1)})
                print(json.dumps(out[-1]), flush=True)
    return out


def _alternate(fns: dict, repeats: int) -> tuple[dict[str, list[float]], dict[str, torch.Tensor]]:
    """Run each precision's ``fn() -> gradient`` in turn ``repeats`` times: seconds per call and the gradients."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    grads = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            grads[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return times, grads


NOISE = 1e-4  # relative input noise of the fp32 reference perturbation


def _noisy(x: torch.Tensor) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return x * (1 + NOISE * torch.randn(x.shape, generator=g)) if x.is_floating_point() else x


def _summary(times: dict, grads: dict) -> dict:
    """Best time of each precision, bf16/fp32 speed-up, and the relative L2 distance of the bf16 gradient from the
    fp32 one, next to that of fp32 on inputs with 1e-4 relative noise (how well-conditioned the gradient is)."""
    def rel(name: str) -> float:
        return round(float((grads[name] - grads["fp32"]).norm() / grads["fp32"].norm()), 4)

    fp32, bf16 = min(times["fp32"]), min(times["bf16"])
    return {"fp32_s": round(fp32, 2), "bf16_s": round(bf16, 2), "bf16_speedup": round(fp32 / bf16, 3),
            "all_s": {k: [round(t, 2) for t in v] for k, v in times.items() if k != "noise"},
            "bf16_grad_rel_l2": rel("bf16"), "fp32_noise_1e-4_grad_rel_l2": rel("noise")}


def _renderer_grad(renderer, inputs: tuple, precision: str) -> torch.Tensor:
    """One forward + backward of the renderer (loss: mean square of its image) -> the flat gradient."""
    from stsa.train.precision import Precision

    renderer.zero_grad(set_to_none=True)
    with Precision(precision, torch.device("cpu")).autocast():
        loss = renderer(*inputs).image.float().square().mean()
    loss.backward()
    return torch.cat([p.grad.flatten() for p in renderer.parameters() if p.grad is not None])


def _trainer_grad(trainer, initial: dict, batch: dict, model: str) -> torch.Tensor:
    """One training step of ``trainer`` from the ``initial`` weights -> the flat gradient of ``model``."""
    for k, m in trainer.models.items():
        m.load_state_dict(initial[k])
    torch.manual_seed(0)
    trainer.step(batch)
    return torch.cat([p.grad.flatten() for p in trainer.models[model].parameters() if p.grad is not None])


def bench_precision(preset: str, repeats: int, threads: int, frames: int) -> dict:
    """fp32 and bf16 side by side on the same weights and inputs: the renderer's forward + backward on ``frames``
    frames (``preset``), and one demo-preset training step of each stage (the whole step: losses, discriminator).
    bf16 on a CPU without AVX512-BF16/AMX takes PyTorch's slow convolution path: expect minutes per paper call."""
    from functools import partial

    from stsa.config import STSAConfig
    from stsa.model import FaceRenderer
    from stsa.train.stages import Trainer, TrainOptions

    torch.set_num_threads(threads)
    out: dict = {"preset": preset, "threads": threads, "repeats": repeats, "frames": frames}
    torch.manual_seed(0)
    cfg = getattr(STSAConfig, preset)()
    renderer = FaceRenderer(cfg).train()
    a, w, n = (768, 10, cfg.n_ref) if cfg.audio == "wav2vec" else (80, 16, cfg.n_ref)
    inputs = (torch.rand(frames, 1, 3, 128, 128), torch.rand(frames, 1, 3, 128, 128),
              torch.rand(frames, n, 3, 128, 128), torch.rand(frames, n, 3, 128, 128), torch.randn(frames, 1, a, w))
    fns = {p: partial(_renderer_grad, renderer, inputs, p) for p in ("fp32", "bf16")}
    fns["noise"] = partial(_renderer_grad, renderer, tuple(_noisy(x) for x in inputs), "fp32")
    out["renderer"] = _summary(*_alternate(fns, repeats))
    print(json.dumps({"renderer": out["renderer"]}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = write_corpus(Path(tmp) / "pre", 2, frames=12)
        for stage, model in (("synthesis", "renderer"), ("guidance", "guidance")):
            trainers = {p: Trainer(TrainOptions(stage=stage, config="demo", data=root, out=Path(tmp) / f"{p}.pt",
                                                split=None, batch=1, progress=False, precision=p))
                        for p in ("fp32", "bf16")}
            batch = trainers["fp32"].next_batch()
            initial = {p: {k: {n: v.clone() for n, v in m.state_dict().items()} for k, m in t.models.items()}
                       for p, t in trainers.items()}
            fns = {p: partial(_trainer_grad, t, initial[p], batch, model) for p, t in trainers.items()}
            fns["noise"] = partial(_trainer_grad, trainers["fp32"], initial["fp32"],
                                   {k: _noisy(v) for k, v in batch.items()}, model)
            out[f"demo {stage} step"] = _summary(*_alternate(fns, repeats))
            print(json.dumps({f"demo {stage} step": out[f"demo {stage} step"]}), flush=True)
    return out


def bench_checkpoints() -> dict:
    """Paper-preset checkpoints of each stage: the rule's output (everything) vs a periodic one (no frozen VGG19),
    and what the full model's paper schedule writes: before, a full file every 100 steps; now a periodic file every
    SAVE_EVERY steps, the last 3 kept."""
    from stsa.train.stages import SAVE_EVERY, SCHEDULE, Trainer, TrainOptions

    torch.set_num_threads(1)
    out: dict = {}
    before = after = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        root = write_corpus(Path(tmp) / "pre", 1, frames=12, wav2vec=True)
        for stage in ("guidance", "synthesis", "finetune"):
            tr = Trainer(TrainOptions(stage=stage, config="paper", data=root, out=Path(tmp) / "s.pt", split=None,
                                      batch=1, progress=False))
            sizes = {}
            for name, periodic in (("output", False), ("periodic", True)):
                path = Path(tmp) / f"{name}.pt"
                torch.save(tr.payload(periodic=periodic), path)
                sizes[name] = path.stat().st_size
            steps = SCHEDULE["paper"][stage][0]
            before += steps / 100 * sizes["output"]
            after += steps / SAVE_EVERY["paper"] * sizes["periodic"]
            out[stage] = {"output_mb": round(sizes["output"] / 1e6, 1),
                          "periodic_mb": round(sizes["periodic"] / 1e6, 1), "steps": steps}
            print(json.dumps({stage: out[stage]}), flush=True)
            del tr
    out["written_before_tb"] = round(before / 1e12, 2)
    out["written_after_tb"] = round(after / 1e12, 3)
    out["on_disk_after_gb"] = round(3 * max(v["periodic_mb"] for v in out.values() if isinstance(v, dict)) / 1e3, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    m = sub.add_parser("memory")
    m.add_argument("--clips", type=int, nargs="+", default=[100, 2000])
    m.add_argument("--steps", type=int, default=10)
    m.add_argument("--code", type=Path, default=REPO, help="checkout whose stsa-bench to run")
    p = sub.add_parser("precision")
    p.add_argument("--preset", default="demo", choices=("paper", "demo"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--frames", type=int, default=1, help="frames of the renderer forward + backward")
    sub.add_parser("checkpoints")
    a = ap.parse_args()
    if a.what == "memory":
        res = bench_memory(a.clips, a.steps, a.code)
    elif a.what == "precision":
        res = bench_precision(a.preset, a.repeats, a.threads, a.frames)
    else:
        res = bench_checkpoints()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
