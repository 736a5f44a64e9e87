"""DVC on top of the workflow: `dvc.yaml` runs the Snakemake table targets, and `dvc metrics diff` reads the
tables' JSON twins as written by `stsa.tables.write_table` (numbers only; provenance beside them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stsa.tables import write_table
from tests.conftest import ROOT

DVC = Path(sys.executable).parent / "dvc"
TABLES = ("table1", "table2", "table3")


def test_each_table_is_a_dvc_stage_running_its_snakemake_target():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    config_tables = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["tables"]
    assert set(config_tables) == set(TABLES) <= set(stages)
    for table in TABLES:
        stage = stages[table]
        assert stage["cmd"] == f"snakemake --cores all results/{table}.csv"
        assert [next(iter(m)) for m in stage["metrics"]] == [f"results/{table}.json"]
        assert {"workflow", "stsa", "metrics", "baselines", "config/config.yaml"} <= set(stage["deps"])


def write_demo_table(root: Path, stsa_psnr: float) -> None:
    """Table I of two methods through the real table writer, as the workflow's `table` rule does."""
    summaries = []
    for method, psnr in (("STSA", stsa_psnr), ("GT", float("inf"))):
        path = root / "work" / f"{method}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"method": method, "clips_dubbed": 2, "n_clips": 2,
                                    "metrics": {"PSNR": psnr, "SSIM": 0.5}, "checkpoints": {"m.pt": "ab12"}}))
        summaries.append(path)
    spec = {"name": "table1", "dataset": "lrs2", "dataset_root": "work/corpus/lrs2", "demo": True, "split": "test",
            "per_video": []}
    results = root / "results"
    results.mkdir(exist_ok=True)
    write_table(spec, summaries, "cafe", results / "table1.csv", results / "table1.json",
                results / "table1_per_video.csv", results / "table1_provenance.json")


def run(*args: str, cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{DVC.parent}{os.pathsep}{os.environ['PATH']}", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.skipif(not DVC.exists() or shutil.which("git") is None, reason="dvc or git not installed")
def test_metrics_diff_shows_what_changed_between_two_commits(tmp_path):
    run("git", "init", "-q", cwd=tmp_path)
    run(str(DVC), "init", "-q", cwd=tmp_path)
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    write_demo_table(tmp_path, 20.0)
    run("git", "add", "dvc.yaml", "results", ".dvc", cwd=tmp_path)
    run("git", "commit", "-qm", "first", cwd=tmp_path)
    write_demo_table(tmp_path, 21.5)
    run("git", "commit", "-qam", "second", cwd=tmp_path)

    diff = json.loads(run(str(DVC), "metrics", "diff", "HEAD~1", "--json", cwd=tmp_path))
    assert diff == {"results/table1.json": {"rows.STSA.PSNR": {"old": 20.0, "new": 21.5, "diff": 1.5}}}
    shown = json.loads(run(str(DVC), "metrics", "show", "--json", cwd=tmp_path))
    values = next(iter(shown.values()))["data"]["results/table1.json"]["data"]
    assert values == {"rows": {"STSA": {c: None for c in values["rows"]["STSA"]} | {"PSNR": 21.5, "SSIM": 0.5},
                               "GT": {c: None for c in values["rows"]["GT"]} | {"SSIM": 0.5}}}
