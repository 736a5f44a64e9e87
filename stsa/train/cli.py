"""`stsa-bench train`: one STSA training stage. Heavy imports stay inside ``run``."""

from __future__ import annotations

import argparse
from pathlib import Path

from stsa.train import ABLATIONS, STAGES


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
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; 1 is faster on a busy CPU)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: auto)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from stsa.train.stages import TrainOptions, train

    opts = TrainOptions(stage=args.stage, data=args.data, out=args.out, config=args.config, steps=args.steps,
                        batch=args.batch, resume=args.resume, expert=args.expert, ablation=args.ablation,
                        init=[*args.init, *(p for p in (args.guidance, args.synthesis) if p is not None)],
                        device=args.device, seed=args.seed,
                        split=None if args.split == "all" else args.split, save_every=args.save_every,
                        threads=args.threads)
    print(json.dumps(train(opts), indent=1))
    return 0
