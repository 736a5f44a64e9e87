"""`stsa-bench train`: one STSA training stage. Heavy imports stay inside ``run``."""

from __future__ import annotations

import argparse
from pathlib import Path

from stsa.train import ABLATIONS, PRECISIONS, STAGES


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train one STSA stage (guidance, synthesis, finetune)",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--stage", choices=STAGES, required=True)
    p.add_argument("--config", default="demo", help="demo, paper or a YAML file (preset: + overrides)")
    p.add_argument("--data", type=Path, required=True, help="preprocessed dataset root (manifest.csv)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write (loss log CSV beside it)")
    p.add_argument("--split", default="train", help="manifest split to train on ('all' = every ok clip)")
    p.add_argument("--resume", action="store_true", help="continue from --out when it exists")
    p.add_argument("--steps", type=int, help="total steps (default: the preset's schedule)")
    p.add_argument("--batch", type=int, help="windows per batch (default: the preset's schedule)")
    p.add_argument("--init", type=Path, action="append", default=[],
                   help="checkpoint(s) to initialise from (finetune: the guidance and synthesis checkpoints)")
    p.add_argument("--guidance", type=Path, help="finetune: the guidance checkpoint (same as --init)")
    p.add_argument("--synthesis", type=Path, help="finetune: the synthesis checkpoint (same as --init)")
    p.add_argument("--expert", type=Path, help="SyncNet expert checkpoint when lipsync_expert.pth is absent")
    p.add_argument("--ablation", choices=ABLATIONS, default="none")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, help="steps between periodic checkpoints (default: demo 100, paper 2000)")
    add_run_arguments(p)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: auto; under torchrun cuda:LOCAL_RANK)")
    p.set_defaults(func=run)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by every training command: periodic checkpoints, precision, threads, workers, processes."""
    p.add_argument("--checkpoint-dir", type=Path,
                   help="periodic checkpoints go here as step-N.pt (the last --keep kept) and a restarted run resumes "
                        "from the newest one of the same run; without it they overwrite --out")
    p.add_argument("--keep", type=int, default=3, help="periodic checkpoints kept in --checkpoint-dir")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="autocast dtype of the networks and losses (fp16 adds loss scaling); fp32 is bit-reproducible")
    p.add_argument("--threads", type=int,
                   help="torch threads of the training computation (default: torch's); results depend on it, not on "
                        "--workers")
    p.add_argument("--workers", type=int, help="DataLoader worker processes reading the windows (default: the "
                   "--cores beyond --threads, else 0)")
    p.add_argument("--cores", type=int, help="CPU cores of the job: --threads for training, the rest for --workers")
    p.add_argument("--nproc", type=int, help="data-parallel processes (one per GPU; gloo on CPU): > 1 relaunches "
                   "this command under torchrun; the batch is the global one")


def loader_workers(args: argparse.Namespace) -> int:
    """``--workers``, else the job's cores (per training process) beyond the training threads."""
    from stsa.train.distributed import process_cores

    if args.workers is not None:
        return args.workers
    cores = process_cores(args.cores)
    return max(cores - (args.threads or 1), 0) if cores else 0


def run(args: argparse.Namespace) -> int:
    import json
    import os

    from stsa.train.distributed import relaunch
    from stsa.train.stages import TrainOptions, train

    code = relaunch(args.nproc)
    if code is not None:
        return code

    opts = TrainOptions(stage=args.stage, data=args.data, out=args.out, config=args.config, steps=args.steps,
                        batch=args.batch, resume=args.resume, expert=args.expert, ablation=args.ablation,
                        init=[*args.init, *(p for p in (args.guidance, args.synthesis) if p is not None)],
                        device=args.device, seed=args.seed,
                        split=None if args.split == "all" else args.split, save_every=args.save_every,
                        threads=args.threads, workers=loader_workers(args), precision=args.precision,
                        checkpoint_dir=args.checkpoint_dir, keep=args.keep)
    summary = train(opts)
    if int(os.environ.get("RANK", 0)) == 0:
        print(json.dumps(summary, indent=1))
    return 0
