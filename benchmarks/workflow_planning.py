"""Planning the paper profile at LRS2's scale: `snakemake -n` for Tables I-III on a fake LRS2 root of the published
split sizes (45,839 train + 1,082 val + 1,243 test clips, empty files) and a fake CMLR test split, locally and with
the Slurm profile; wall time, peak RSS and what was planned. The split listings are written first (a real run of
the list_clips checkpoint: a dry run cannot see behind it).

    .venv/bin/python benchmarks/workflow_planning.py [--train 45839] [--test 1243] [--cmlr 1000] [--skip-slurm]
        [--clips-per-batch 200] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.workflow_fakes import (  # noqa: E402
    LRS2_SIZES,
    ROOT,
    SLURM,
    fake_paper_profile,
    listings,
    paper_targets,
    planned_clips,
    slurm_groups,
)

SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def timed(args: list[str]) -> tuple[str, float, float]:
    """stdout, wall seconds and peak RSS (MB) of one snakemake run."""
    env = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ['PATH']}"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(SNAKEMAKE), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"snakemake {' '.join(args)} failed:\n{out[-3000:]}")
    return out, time.perf_counter() - t0, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=LRS2_SIZES["train"])
    parser.add_argument("--test", type=int, default=LRS2_SIZES["test"])
    parser.add_argument("--cmlr", type=int, default=1000, help="CMLR test clips")
    parser.add_argument("--clips-per-batch", type=int, default=200)
    parser.add_argument("--skip-slurm", action="store_true")
    parser.add_argument("--keep", type=Path, help="build the fake roots here and keep them")
    args = parser.parse_args()

    tmp = args.keep or Path(tempfile.mkdtemp(prefix="stsa-plan-"))
    tmp.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    config = fake_paper_profile(tmp, {"train": args.train, "val": LRS2_SIZES["val"], "test": args.test},
                                {"test": args.cmlr})
    print(f"fake roots in {tmp}: {time.perf_counter() - t0:.1f} s")
    common = ["--configfile", str(config), "--config", f"clips_per_batch={args.clips_per_batch}"]
    _, wall, rss = timed(["--cores", "1", *listings(config), *common])
    print(f"listings (list_clips, 3 splits): {wall:.1f} s, peak RSS {rss:.0f} MB")
    runs = [("local", [])] + ([] if args.skip_slurm else [("slurm profile", ["--workflow-profile", str(SLURM)])])
    for name, extra in runs:
        out, wall, rss = timed(["-n", *paper_targets(config), *extra, *common])
        clips = dict(planned_clips(out))
        groups = slurm_groups(out)
        print(f"dry run, {name}: {wall:.1f} s, peak RSS {rss:.0f} MB; preprocess_clip jobs {clips}"
              + (f"; {len(groups)} group jobs of {min(g['preprocess_clip'] for g in groups)}-"
                 f"{max(g['preprocess_clip'] for g in groups)} clips" if groups else ""))


if __name__ == "__main__":
    main()
