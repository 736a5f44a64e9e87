"""Planning the paper profile on fake LRS2/CMLR roots (empty media files, real split lists): eval_limit cuts only
the evaluated split, per-clip jobs re-run only for their own changes, Slurm batches are disjoint groups submitted
once, and weights_dir reaches every rule that loads weights."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT
from tests.test_workflow import BIN, planned_jobs, snakemake
from tests.workflow_fakes import (
    SLURM,
    SMOKE,
    fake_cmlr,
    fake_lrs2,
    fake_paper_profile,
    listings,
    paper_targets,
    planned_clips,
    slurm_groups,
    write_config,
)


@pytest.fixture(scope="module")
def paper_root(tmp_path_factory) -> Path:
    """The paper profile on a fake root of 2,000 LRS2 train clips (more than 40 everywhere), listings written."""
    tmp = tmp_path_factory.mktemp("paper")
    config = fake_paper_profile(tmp, {"train": 2000, "val": 50, "test": 300}, {"test": 120})
    snakemake("--cores", "1", *listings(config), "--configfile", str(config))
    return config


@pytest.mark.slow
def test_eval_limit_cuts_only_the_evaluated_split(paper_root: Path):
    dry = snakemake("-n", *paper_targets(paper_root), "--configfile", str(paper_root))
    # training (Table III's ablations) preprocesses the whole train split; evaluation the first 40 test clips
    assert planned_clips(dry.stdout) == {("lrs2", "train"): 2000, ("lrs2", "test"): 40, ("cmlr", "test"): 40}
    jobs = planned_jobs(dry.stdout)
    assert jobs["train_stsa_synthesis"] == 5 and jobs["manifest"] == 3, jobs
    test_ids = [line.split("\t")[0] for line in Path(listings(paper_root)[1]).read_text().splitlines()[1:]]
    assert test_ids == (paper_root.parent / "LRS2/test.txt").read_text().split()[::2][:40]  # the first 40 listed


@pytest.mark.slow
def test_slurm_profile_batches_per_clip_jobs(paper_root: Path):
    dry = snakemake("-n", *paper_targets(paper_root), "--workflow-profile", str(SLURM), "--configfile",
                    str(paper_root))
    groups = slurm_groups(dry.stdout)
    # one group per batch of 200 listed clips: 10 for LRS2 train, 1 each for the 40 LRS2 and 40 CMLR test clips
    assert sorted(g["preprocess_clip"] for g in groups) == [40, 40] + [200] * 10
    assert all(g == Counter({"preprocess_clip": g["preprocess_clip"], "preprocess_batch": 1}) for g in groups)
    assert sum(g["preprocess_clip"] for g in groups) == sum(planned_clips(dry.stdout).values())


def fake_slurm(bin_dir: Path) -> Path:
    """A fake Slurm (fixture standing in for the cluster): sbatch records its command line and prints a job id;
    squeue, sacct and sinfo answer nothing. Nothing is run. Returns the file of recorded sbatch calls."""
    bin_dir.mkdir()
    calls = bin_dir / "sbatch_calls.log"
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\necho "$*" >> {calls}\nwc -l < {calls}\n')
    for tool in ("squeue", "sacct", "sinfo"):
        (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return calls


@pytest.mark.slow
def test_slurm_submits_each_batch_once_and_lists_locally(tmp_path: Path):
    config = fake_paper_profile(tmp_path, {"train": 450, "test": 60}, {"test": 50})
    calls = fake_slurm(tmp_path / "slurm")
    env = {**os.environ, "PATH": f"{tmp_path / 'slurm'}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}"}
    targets = paper_targets(config)
    # --directory: the run is stopped midway, so its locks and incomplete markers stay in tmp_path
    proc = subprocess.Popen([str(BIN / "snakemake"), *targets, "--workflow-profile", str(SLURM), "--configfile",
                             str(config), "--directory", str(tmp_path / "run")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    expected, deadline = 5, time.monotonic() + 600  # 3 batches of LRS2 train, 1 of LRS2 test, 1 of CMLR test
    try:
        while time.monotonic() < deadline and (not calls.exists() or len(calls.read_text().splitlines()) < expected):
            time.sleep(2)
        time.sleep(10)  # a duplicate submission would follow within the same scheduling pass
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    submitted = calls.read_text().splitlines() if calls.exists() else []
    assert len(submitted) == expected, submitted
    # the listings were written by the Snakemake process itself (localrules), never submitted
    assert all(Path(p).is_file() for p in listings(config)) and not any("list_clips" in s for s in submitted)
    clips = [re.findall(r"'preprocess_clip:([^']+)'", s) for s in submitted]
    assert sorted(map(len, clips)) == [40, 40, 50, 200, 200]
    assert sum(map(len, clips)) == len({c for batch in clips for c in batch})  # every clip in exactly one job
    assert all(len(re.findall(r"'preprocess_batch:", s)) == 1 for s in submitted)
    full = [s for s, c in zip(submitted, clips, strict=True) if len(c) == 200]
    # 200 clips, 4 at a time (2 threads each, cores: 8): 50 layers x 2 min + the batch job's minute
    assert all("--cpus-per-task=8" in s and "--mem 12000" in s and " -t 101 " in s for s in full), full[0][:400]


def run_config(tmp: Path, **edits) -> list[str]:
    """Options running the smoke profile's settings on the fake roots in ``tmp`` (edits as in write_config)."""
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg.update(workdir_root=str(tmp / "work"), results_dir=str(tmp / "results"))
    for name, root in (("lrs2", tmp / "LRS2"), ("cmlr", tmp / "CMLR")):
        cfg["datasets"][name].update(root=str(root), synth=None)
    return ["--configfile", str(write_config(tmp / "run.yaml", cfg, **edits))]


@pytest.mark.slow
def test_a_clip_reruns_only_for_its_own_changes(tmp_path: Path):
    lrs2 = fake_lrs2(tmp_path / "LRS2", {"train": 3, "test": 4})
    fake_cmlr(tmp_path / "CMLR", {"test": 1})
    work = tmp_path / "work"
    manifests = [f"{work}/preprocessed/lrs2/{split}/manifest.csv" for split in ("train", "test")]
    test_listing = f"{work}/lists/lrs2/test.tsv"
    snakemake("--cores", "1", *manifests, *run_config(tmp_path, lrs2={"eval_limit": 2}))
    manifest = (work / "preprocessed/lrs2/test/manifest.csv").read_text()
    assert manifest.count("rejected") == 2  # empty videos: rejected with a reason, the run goes on

    def plan(**edits) -> dict[str, int]:
        return planned_jobs(snakemake("-n", *manifests, *run_config(tmp_path, **edits)).stdout)

    assert plan(lrs2={"eval_limit": 2}) == {}
    # another dataset's keys and keys the listing does not depend on: nothing to do
    assert plan(lrs2={"eval_limit": 2, "synth": {"layout": "lrs2", "test": 9}}, cmlr={"eval_limit": 1}) == {}
    # a longer test listing: only the new clip is preprocessed, the train split is untouched
    snakemake("--cores", "1", test_listing, *run_config(tmp_path, lrs2={"eval_limit": 3}))
    assert plan(lrs2={"eval_limit": 3}) == {"preprocess_clip": 1, "preprocess_batch": 1, "manifest": 1}
    dry = snakemake("-n", *manifests, *run_config(tmp_path, lrs2={"eval_limit": 3})).stdout
    assert planned_clips(dry) == {("lrs2", "test"): 1} and lrs2["test"][2] in dry
    snakemake("--cores", "1", *manifests, *run_config(tmp_path, lrs2={"eval_limit": 3}))
    # a replaced video (newer, other content: Snakemake skips a touched file whose checksum is unchanged) re-runs
    # its own clip only; a changed preprocessing setting re-runs every clip
    video = tmp_path / "LRS2/mvlrs_v1/main" / f"{lrs2['train'][1]}.mp4"
    video.write_bytes(b"a replaced file")
    os.utime(video, (time.time() + 5, time.time() + 5))
    assert planned_clips(snakemake("-n", *manifests, *run_config(tmp_path, lrs2={"eval_limit": 3})).stdout) == {
        ("lrs2", "train"): 1}
    cfg_changed = run_config(tmp_path, lrs2={"eval_limit": 3})
    cfg = yaml.safe_load(Path(cfg_changed[1]).read_text())
    cfg["preprocess"]["min_frames"] = 30
    Path(cfg_changed[1]).write_text(yaml.safe_dump(cfg))
    assert planned_clips(snakemake("-n", *manifests, *cfg_changed).stdout) == {("lrs2", "train"): 3,
                                                                                ("lrs2", "test"): 3}


def test_eval_limit_must_not_cut_a_training_split(tmp_path: Path):
    config = fake_paper_profile(tmp_path, {"train": 3, "test": 3}, {"test": 1},
                                lrs2={"test_split": "train", "train_split": "train"})
    proc = snakemake("-n", "--configfile", str(config), check=False)
    assert proc.returncode != 0 and "eval_limit would also limit training" in proc.stdout + proc.stderr


def test_weights_dir_reaches_the_training_commands(tmp_path: Path):
    weights = tmp_path / "my weights"  # a space: the shell prefix must quote it
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg.update(workdir_root=str(tmp_path / "work"), results_dir=str(tmp_path / "results"), weights_dir=str(weights))
    config = write_config(tmp_path / "w.yaml", cfg)
    models = tmp_path / "work/models"
    targets = [f"{models}/expert.pt", f"{models}/wav2lip.pt", f"{models}/stsa/full/finetune.pt",
               f"{models}/stsa/no_sync/synthesis.pt"]
    dry = snakemake("-n", "-p", *targets, "--configfile", str(config)).stdout
    commands = [line.strip().removeprefix("Shell command: ") for line in dry.splitlines()
                if re.search(r"stsa-bench (baselines )?train ", line)]
    assert len(commands) == 6, commands  # expert, wav2lip, guidance, synthesis (full, no_sync), finetune
    assert all(c.startswith(f"STSA_BENCH_WEIGHTS='{weights}' stsa-bench ") for c in commands), commands


@pytest.mark.slow
def test_weights_dir_reaches_dubbing_and_evaluation(tmp_path: Path, monkeypatch):
    """One demo clip; the configured weights directory holds unreadable STSA release files and no Inception
    weights: STSA finds its files there (so it fails to load them instead of being unavailable) and FID's reason
    names the directory."""
    weights = tmp_path / "weights"
    weights.mkdir()
    for name in ("heatmap_weight.pth", "face_weight.pth"):
        (weights / name).write_bytes(b"not a checkpoint")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no Inception weights in a torch hub cache either
    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(tmp_path / "elsewhere"))  # the config's weights_dir wins
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg.update(workdir_root=str(tmp_path / "work"), results_dir=str(tmp_path / "results"), weights_dir=str(weights),
               metrics=["fid"], methods={"GT": {"adapter": "gt"}, "STSA": {"adapter": "stsa"}},
               tables={"table1": {"dataset": "lrs2", "methods": ["STSA", "GT"]}})
    cfg["datasets"] = {"lrs2": {**cfg["datasets"]["lrs2"], "synth": {"layout": "lrs2", "train": 0, "test": 1,
                                                                      "seconds": 2.0, "seed": 0}}}
    config = write_config(tmp_path / "w.yaml", cfg)
    per_method = tmp_path / "results/per_method/lrs2"
    snakemake("--cores", "1", str(per_method / "STSA.json"), str(per_method / "GT.json"), "--configfile", str(config))
    runs = pd.read_csv(tmp_path / "work/dubbed/lrs2/STSA/runs.csv")
    assert list(runs["status"]) == ["failed"] and str(weights) in runs["reason"][0], runs.to_dict("records")
    assert str(weights) in json.loads((per_method / "GT.json").read_text())["unavailable"]["fid"]
