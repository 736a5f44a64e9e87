"""A training job killed with SIGKILL resumes through the workflow: Snakemake deletes the failed job's output, the
periodic checkpoints (outside the outputs) survive, and the re-run continues from the newest one into the weights
of an uninterrupted run."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from stsa_tiny import make_corpus

from stsa.train.checkpoint import load_checkpoint
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
STEPS, EVERY = 6, 2


def workdir(tmp: Path) -> tuple[Path, list[str]]:
    """A workdir holding a preprocessed train split (the rules upstream of training are not run) and the
    snakemake command training its guidance stage: smoke profile, STEPS steps, a checkpoint every EVERY."""
    w = tmp / "work"
    root = make_corpus(w / "preprocessed" / "lrs2" / "train", n_clips=2, n_frames=20)
    ids = sorted(str(p.parent.relative_to(root)) for p in root.rglob("clip.npz"))
    (root / "manifest.csv").write_text("clip,status,reason,split\n" + "".join(f"{c},ok,,train\n" for c in ids))
    cfg = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    cfg.update(workdir_root=str(w), results_dir=str(tmp / "results"))
    cfg["training"].update(guidance_steps=STEPS, save_every=EVERY)
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [str(SNAKEMAKE), "--cores", "1", str(w / "models/stsa/full/guidance.pt"), "--configfile",
           str(tmp / "config.yaml"), "--allowed-rules", "train_stsa_guidance"]
    return w, cmd


ENV = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
       "OMP_NUM_THREADS": "1"}


def training_pids(marker: str) -> list[int]:
    """Processes running `stsa-bench train` whose command line mentions ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--stage" in cmd and any(marker.encode() in a for a in cmd):
                pids.append(int(entry.name))
    return pids


def loss_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k != "time_s"} for r in csv.DictReader(f)]


def test_a_killed_training_job_resumes_through_the_workflow(tmp_path):
    w, cmd = workdir(tmp_path / "a")
    ckdir = w / "checkpoints" / "train_stsa_guidance"
    smk = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (ckdir / f"step-{EVERY}.pt").is_file():
        assert smk.poll() is None, "snakemake ended before the first periodic checkpoint"
        assert time.time() < deadline
        time.sleep(0.05)
    pids = training_pids(str(w))
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert smk.wait(timeout=120) != 0  # the job failed
    output = w / "models/stsa/full/guidance.pt"
    assert not output.exists()
    killed_at = max(int(p.stem.split("-")[1]) for p in ckdir.glob("step-*.pt"))
    assert EVERY <= killed_at < STEPS

    again = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    log = (w / "logs/train/stsa_guidance.log").read_text()
    assert f"resuming guidance from step {killed_at} ({ckdir / f'step-{killed_at}.pt'})" in log
    assert load_checkpoint(output)["step"] == STEPS

    w_ref, cmd_ref = workdir(tmp_path / "b")  # the same job, never interrupted
    ref = subprocess.run(cmd_ref, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    assert ref.returncode == 0, ref.stderr[-3000:]
    ours, theirs = load_checkpoint(output), load_checkpoint(w_ref / "models/stsa/full/guidance.pt")
    for k, v in theirs["models"]["guidance"].items():
        assert torch.equal(v, ours["models"]["guidance"][k]), k
    assert loss_rows(w / "models/stsa/full/guidance.losses.csv") == \
        loss_rows(w_ref / "models/stsa/full/guidance.losses.csv")
    assert len(loss_rows(w_ref / "models/stsa/full/guidance.losses.csv")) == STEPS
