"""STSA dubbing speed: batched `stsa.dub` vs the release's frame-by-frame order, side by side in one run, plus the
demo preset's training cost per stage.

    .venv/bin/python benchmarks/inference.py --preset paper --frames 8 --threads 2
    .venv/bin/python benchmarks/inference.py --train --threads 1

Inference: random weights (seeded), a synthetic 12-frame template and random audio features; the same Dubber runs
``dub_faces_framewise`` (release order: stage 1 on a 5-frame window per output frame, renderer on one frame, the VGG19
perceptual loss the release computes inside forward) and ``dub_faces`` (all windows of a chunk batched, heatmaps
and pose codes once per template frame, reference-only work once per video, only each window's centre decoded, no
loss network). Outputs must match (max |diff| <= 1 grey level). FLOPs per frame of both
(torch FlopCounterMode) give the load-independent ceiling of the speed-up for this amount of work.
Training: seconds per optimisation step of each stage on a synthetic corpus shaped like the demo corpus (75-frame
clips, 128x128 crops), and the demo schedule's projected time.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def synthetic_template(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n,128,128,3) smooth random crops and (n,131,2) landmarks on an oval layout with a moving mouth."""
    import cv2

    from stsa.data.landmarks import LIP

    rng = np.random.default_rng(seed)
    crops = np.stack([cv2.resize(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), (128, 128))
                      for _ in range(n)])
    ang = np.linspace(0, 2 * np.pi, 131, endpoint=False)
    base = np.stack([0.5 + 0.35 * np.cos(ang), 0.5 + 0.4 * np.sin(ang)], 1).astype(np.float32)
    lips = np.array(LIP)
    la = np.linspace(0, 2 * np.pi, len(lips), endpoint=False)
    base[lips] = np.stack([0.5 + 0.15 * np.cos(la), 0.75 + 0.05 * np.sin(la)], 1)
    lm = np.repeat(base[None], n, 0) + rng.normal(0, 0.003, (n, 131, 2)).astype(np.float32)
    lm[:, lips, 1] += (0.03 * (1 + np.sin(np.arange(n) / 2.0)))[:, None] * np.sign(np.sin(la))[None]
    return crops, np.clip(lm, 0, 1).astype(np.float32)


def bench_inference(preset: str, frames: int, chunk: int) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    from stsa.config import STSAConfig
    from stsa.data.landmarks import mouth_openness
    from stsa.dub import Dubber
    from stsa.model import FaceRenderer, GuidancePredictor

    torch.manual_seed(0)
    cfg = getattr(STSAConfig, preset)()
    dubber = Dubber(GuidancePredictor(cfg), FaceRenderer(cfg), cfg, "cpu", chunk=chunk)
    crops, lm = synthetic_template(12)
    openness = mouth_openness(lm)
    audio = np.random.default_rng(1).normal(0, 1, (frames, cfg.audio_dim, cfg.audio_window)).astype(np.float32)
    dubber.dub_faces(crops, lm, openness, audio[:2])  # warm-up (allocator, oneDNN kernels)
    t0 = time.perf_counter()
    slow = dubber.dub_faces_framewise(crops, lm, openness, audio)
    t_slow = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = dubber.dub_faces(crops, lm, openness, audio)
    t_fast = time.perf_counter() - t0
    diff = np.abs(fast.astype(int) - slow.astype(int))
    gflop = {}
    for name, run in (("release_order", dubber.dub_faces_framewise), ("batched", dubber.dub_faces)):
        with FlopCounterMode(display=False) as counter:  # load-independent: the compute-bound ceiling of the ratio
            run(crops, lm, openness, audio)
        gflop[name] = counter.get_total_flops() / frames / 1e9
    return {"preset": preset, "frames": frames, "chunk": chunk, "threads": torch.get_num_threads(),
            "release_order_fps": round(frames / t_slow, 3), "release_order_s_per_frame": round(t_slow / frames, 3),
            "batched_fps": round(frames / t_fast, 3), "speedup": round(t_slow / t_fast, 2),
            "release_order_gflop_per_frame": round(gflop["release_order"], 1),
            "batched_gflop_per_frame": round(gflop["batched"], 1),
            "flop_ratio": round(gflop["release_order"] / gflop["batched"], 2),
            "max_abs_diff": int(diff.max()), "mean_abs_diff": float(diff.mean()),
            "perceptual_in_release_order": dubber.renderer.perceptual is not None}


def bench_training(steps: int, clips: int, frames: int) -> dict:
    """Seconds per step of each stage (demo preset and its default batch sizes), projected over the schedule."""
    from stsa.data.audio import melspectrogram
    from stsa.data.clip import ClipData, write_status
    from stsa.modules.sync_expert import SyncExpert, SyncExpertConfig
    from stsa.train.stages import SCHEDULE, Trainer, TrainOptions

    out: dict = {"clips": clips, "frames_per_clip": frames, "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "pre"
        rng = np.random.default_rng(0)
        for c in range(clips):
            crops, lm = synthetic_template(frames, seed=c)
            mel = melspectrogram(rng.normal(0, 0.1, frames * 640).astype(np.float32))
            d = root / f"clip{c:03d}"
            ClipData(crops, np.tile(np.array([0, 0, 128, 128], np.int32), (frames, 1)), lm, np.ones(frames, bool),
                     mel, points=lm * 128, frame_size=np.array([128, 128], np.int32)).save(d)
            write_status(d, {"status": "ok"})
        expert = Path(tmp) / "expert.pt"
        torch.save({"state_dict": SyncExpert(SyncExpertConfig.preset("demo")).state_dict()}, expert)
        init = []
        total = 0.0
        for stage in ("guidance", "synthesis", "finetune"):
            t0 = time.perf_counter()
            tr = Trainer(TrainOptions(stage=stage, data=root, out=Path(tmp) / f"{stage}.pt", split=None,
                                      progress=False, expert=expert,
                                      init=list(init) if stage == "finetune" else []))
            t_setup = time.perf_counter() - t0
            tr.step()  # warm-up
            t0 = time.perf_counter()
            for _ in range(steps):
                tr.step()
            per_step = (time.perf_counter() - t0) / steps
            tr.save()
            init.append(Path(tmp) / f"{stage}.pt")
            n_steps, batch = SCHEDULE["demo"][stage]
            projected = t_setup + n_steps * per_step
            total += projected
            out[stage] = {"s_per_step": round(per_step, 3), "batch_windows": batch, "schedule_steps": n_steps,
                          "setup_s": round(t_setup, 2), "projected_s": round(projected, 1),
                          "losses": sorted(tr.losses_used)}
    out["projected_total_s"] = round(total, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper", choices=("paper", "demo"))
    ap.add_argument("--frames", type=int, default=8, help="output frames to dub")
    ap.add_argument("--chunk", type=int, default=8, help="windows per batched guidance/renderer call")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train", action="store_true", help="measure the demo training stages instead")
    ap.add_argument("--train-steps", type=int, default=2, help="timed steps per stage")
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--clip-frames", type=int, default=75)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.train:
        res = bench_training(args.train_steps, args.clips, args.clip_frames)
    else:
        res = bench_inference(args.preset, args.frames, args.chunk)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
