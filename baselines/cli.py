"""``stsa-bench baselines list|run|train``."""

from __future__ import annotations

import argparse
from pathlib import Path

from stsa.train.cli import add_run_arguments


def parse_options(pairs: list[str] | None) -> dict:
    """["k=v", ...] -> {k: v}; a pair without "=" raises a clear argparse error."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise argparse.ArgumentTypeError(f"--option expects key=value, got {pair!r}")
        k, v = pair.split("=", 1)
        out[k.strip()] = v
    return out


def read_split_list(path: str | Path) -> list[str]:
    """Clip ids: the first token of each non-empty, non-comment line (LRS2's "id NF" lines work)."""
    from stsa.errors import DatasetError

    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "split list not found", "pass a file with one clip id per line")
    ids = [ln.split()[0] for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return ids


def make_jobs(clips_root: str | Path, clip_ids: list[str], out: str | Path, audio_root: str | Path | None = None):
    """ClipJobs driven by each clip's own audio.wav (or ``<audio_root>/<clip_id>.wav``)."""
    from baselines.base import ClipJob

    root, out = Path(clips_root), Path(out)
    jobs = []
    for cid in clip_ids:
        audio = Path(audio_root) / f"{cid}.wav" if audio_root else root / cid / "audio.wav"
        jobs.append(ClipJob(cid, root / cid, audio, out / f"{cid}.mp4"))
    return jobs


def cmd_list(args) -> int:
    """Each adapter's status and what is missing; for official releases also the device they need, every file
    (and run-time download) and the exact preparation commands."""
    from baselines.registry import ADAPTERS, get_adapter

    opts = parse_options(args.option)
    for name in ADAPTERS:
        if args.method and name != args.method:
            continue
        adapter = get_adapter(name, opts)
        st = adapter.status()
        print(f"{name:18s} {adapter.label:15s} {'ready' if st.ready else 'NOT READY'}")
        details = [f"missing: {m}" for m in st.missing]
        details += adapter.describe() if hasattr(adapter, "describe") else []
        for line in details:
            print(f"{'':18s}   {line}")
    return 0


def cmd_run(args) -> int:
    from baselines.run import run_method

    jobs = make_jobs(args.clips_root, read_split_list(args.split_list), args.out, args.audio_root)
    df = run_method(args.method, parse_options(args.option), jobs, device=args.device, required=args.required)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    df.to_csv(Path(args.out) / f"_run_{args.method}.csv", index=False)
    counts = df["status"].value_counts().to_dict()
    print(f"{args.method}: {len(df)} clips {counts} -> {args.out}")
    for _, row in df[df["status"] != "ok"].head(10).iterrows():
        print(f"  {row['clip']}: {row['status']}: {row['reason']}")
    return 0


def cmd_train(args) -> int:
    """Train the expert or the generator; under ``torchrun`` one process of a data-parallel run."""
    import os

    import torch

    from baselines.wav2lip.train import RunOptions, train_expert, train_wav2lip
    from stsa.train import distributed
    from stsa.train.cli import loader_workers

    code = distributed.relaunch(args.nproc)
    if code is not None:
        return code
    if args.threads:
        torch.set_num_threads(args.threads)
    _, device = distributed.setup(args.device)
    run = RunOptions(workers=loader_workers(args), precision=args.precision, checkpoint_dir=args.checkpoint_dir,
                     keep=args.keep)
    common = {"preset": args.preset, "steps": args.steps, "device": device, "batch": args.batch, "seed": args.seed,
              "save_every": args.save_every, "run": run}
    res = None
    try:
        if args.model == "expert":
            res = train_expert(args.data, args.out, **common)
        else:
            res = train_wav2lip(args.data, args.out, expert=args.expert, **common)
    finally:
        distributed.teardown(completed=res is not None)
    if int(os.environ.get("RANK", 0)) == 0:
        print(" ".join(f"{k}={v}" for k, v in res.items()))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("baselines", help="compared methods: list their status, run them, train Wav2Lip")
    sub = p.add_subparsers(dest="baselines_command", required=True, metavar="ACTION")

    pl = sub.add_parser("list", help="each adapter with its status (what is missing and where to get it)")
    pl.add_argument("--method", default=None, help="only this adapter (with --option applied)")
    pl.add_argument("--option", action="append", metavar="K=V", help="adapter option, repeatable")
    pl.set_defaults(func=cmd_list)

    pr = sub.add_parser("run", help="dub the clips of a split with one method")
    pr.add_argument("--method", required=True)
    pr.add_argument("--clips-root", required=True, help="preprocessed clip root (<root>/<clip_id>/...)")
    pr.add_argument("--split-list", required=True, help="file with one clip id per line")
    pr.add_argument("--out", required=True, help="output folder (<out>/<clip_id>.mp4 + .json)")
    pr.add_argument("--audio-root", default=None, help="driving audio <root>/<clip_id>.wav (default: own audio)")
    pr.add_argument("--option", action="append", metavar="K=V", help="adapter option, repeatable")
    pr.add_argument("--device", default=None)
    pr.add_argument("--required", action="store_true", help="fail when the method is not ready")
    pr.set_defaults(func=cmd_run)

    pt = sub.add_parser("train", help="train native Wav2Lip or its lip-sync expert on preprocessed clips")
    pt.add_argument("--model", choices=["wav2lip", "expert"], required=True)
    pt.add_argument("--data", required=True, help="preprocessed root (train split of manifest.csv)")
    pt.add_argument("--out", required=True, help="checkpoint file (resumed when it exists)")
    pt.add_argument("--preset", choices=["demo", "paper"], default="demo")
    pt.add_argument("--steps", type=int, default=None)
    pt.add_argument("--batch", type=int, default=None, help="batch (expert: windows; wav2lip: 5-frame windows)")
    pt.add_argument("--expert", default=None, help="expert checkpoint for the sync loss (wav2lip only)")
    pt.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: auto; under torchrun cuda:LOCAL_RANK)")
    pt.add_argument("--seed", type=int, default=None, help="sampling and initialisation seed (default: 0)")
    pt.add_argument("--save-every", type=int, default=None, help="steps between periodic checkpoints (default: preset)")
    add_run_arguments(pt)
    pt.set_defaults(func=cmd_train)
