"""The Snakemake workflow: lint, schema, and the whole smoke profile end to end (incremental, deterministic,
compared with the committed reference tables)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
SMOKE = ROOT / "config" / "smoke.yaml"
REFERENCE = ROOT / "tests" / "reference" / "smoke"
# The smoke run's --cores, and the other count the same-seed re-run uses: the tables must not depend on it.
SMOKE_CORES = os.environ.get("STSA_SMOKE_CORES", "2")
OTHER_CORES = "1" if SMOKE_CORES != "1" else "2"
# Per-column absolute tolerances for the regression check: the values move across machines (the same commit gave
# Reference-copy 25.38 and 25.67 dB on two machines), while one machine gives byte-identical tables at any --cores.
TOLERANCE = {"PSNR": 0.5, "SSIM": 0.02, "FID": 5.0, "LPIPS": 0.02, "LipLMD": 0.003, "LSE-D": 0.5, "LSE-C": 0.5,
             "DME": 0.2, "DME[dis]": 0.2}


def snakemake(*args: str, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([str(BIN / "snakemake"), *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def smoke_overrides(tmp: Path) -> list[str]:
    """Options running the smoke profile in ``tmp`` (they take several values: put targets before them)."""
    return ["--configfile", str(SMOKE), "--config", f"workdir_root={tmp}/work", f"results_dir={tmp}/results"]


def test_lint_is_clean():
    proc = snakemake("--lint", check=False)
    assert "Congratulations" in proc.stdout + proc.stderr, proc.stdout[-2000:]


def test_schema_rejects_a_bad_config():
    from snakemake.utils import validate

    cfg = yaml.safe_load(SMOKE.read_text())
    validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))
    cfg["metrics"] = ["psnr", "not-a-metric"]
    with pytest.raises(Exception, match="not-a-metric"):
        validate(cfg, str(ROOT / "workflow/schemas/config.schema.yaml"))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    """The smoke profile run once (synth, preprocess, train, dub, evaluate, tables)."""
    tmp = tmp_path_factory.mktemp("smoke")
    snakemake("--cores", SMOKE_CORES, f"{tmp}/results/table1.csv", f"{tmp}/results/table2.csv", *smoke_overrides(tmp))
    return tmp


@pytest.mark.slow
def test_smoke_tables_have_the_paper_layout(smoke_run: Path):
    table1 = pd.read_csv(smoke_run / "results/table1.csv", dtype=str, keep_default_na=False)
    assert list(table1.columns[:10]) == ["method", "PSNR", "SSIM", "FID", "LPIPS", "LipLMD", "LSE-D", "LSE-C", "DME",
                                         "DME[dis]"]
    rows = table1.set_index("method")
    assert list(rows.index) == ["Wav2Lip", "PC-AVS", "DiffTalk", "STSA", "Reference-copy", "GT"]
    assert rows.loc["GT", "PSNR"] == "100.00" and rows.loc["GT", "SSIM"] == "1.0000"  # GT vs itself (PSNR cap)
    assert float(rows.loc["Reference-copy", "PSNR"]) > 15
    assert rows.loc["PC-AVS", "status"] == "unavailable" and rows.loc["PC-AVS", "note"]
    assert "never released" in rows.loc["DiffTalk", "note"]
    assert rows.loc["STSA", "status"] == "ok" and rows.loc["Wav2Lip", "status"] == "ok"  # trained by the workflow
    # weights are not installed here: FID/LPIPS/LSE/DME(raft) are empty with a stated reason, DME[dis] is computed
    assert rows.loc["STSA", "FID"] == "" and "FID" in rows.loc["STSA", "note"]
    assert rows.loc["STSA", "DME[dis]"] != ""
    per_video = pd.read_csv(smoke_run / "results/table1_per_video.csv", dtype={"clip": str})
    assert set(per_video["method"]) >= {"STSA", "GT", "Reference-copy", "Wav2Lip"}


def planned_jobs(output: str) -> dict[str, int]:
    """Job counts from the 'Job stats' table of a dry run."""
    counts, in_stats = {}, False
    for line in output.splitlines():
        parts = line.split()
        if line.startswith("Job stats"):
            in_stats = True
        elif in_stats and len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
        elif in_stats and parts and parts[0] == "total":
            break
    return counts


@pytest.mark.slow
def test_noop_rerun_and_per_method_invalidation(smoke_run: Path, tmp_path: Path):
    targets = [f"{smoke_run}/results/table1.csv", f"{smoke_run}/results/table2.csv"]
    dry = snakemake("-n", *targets, *smoke_overrides(smoke_run))
    assert "Nothing to be done" in dry.stdout + dry.stderr
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg["methods"]["Reference-copy"]["options"] = {"reference_frames": 3}
    changed_config = tmp_path / "changed.yaml"
    changed_config.write_text(yaml.safe_dump(cfg))
    overrides = smoke_overrides(smoke_run)
    overrides[1] = str(changed_config)
    jobs = planned_jobs(snakemake("-n", *targets, *overrides).stdout)
    # only Reference-copy's dubbing and evaluation (on both datasets) and the tables holding it re-run
    assert jobs == {"dub": 2, "evaluate": 2, "table": 2}, jobs


@pytest.mark.slow
def test_smoke_matches_the_committed_reference(smoke_run: Path):
    for name in ("table1", "table2"):
        reference_path = REFERENCE / f"{name}.csv"
        if not reference_path.exists():
            pytest.fail(f"missing reference table {reference_path}: copy a reviewed smoke run's table there")
        ours = pd.read_csv(smoke_run / f"results/{name}.csv").set_index("method")
        ref = pd.read_csv(reference_path).set_index("method")
        assert list(ours.columns) == list(ref.columns), "a column appeared or disappeared"
        assert list(ours.index) == list(ref.index), "a row appeared or disappeared"
        for column, tol in TOLERANCE.items():
            if column in ref:
                pd.testing.assert_series_equal(ours[column], ref[column], atol=tol, check_exact=False,
                                               obj=f"{name}.{column}")
        pd.testing.assert_series_equal(ours["status"], ref["status"], obj=f"{name}.status")


@pytest.mark.slow
def test_same_seed_gives_identical_tables_at_another_core_count(smoke_run: Path, tmp_path: Path):
    snakemake("--cores", OTHER_CORES, f"{tmp_path}/results/table1.csv", *smoke_overrides(tmp_path))
    ours, again = smoke_run / "results", tmp_path / "results"
    assert (again / "table1.csv").read_bytes() == (ours / "table1.csv").read_bytes()
    assert (again / "table1.json").read_bytes() == (ours / "table1.json").read_bytes()
    # the provenance names the (different) work directories, and the config hash covers them; the rest is identical
    paths = {"checkpoints", "dataset_root", "config_hash"}
    prov = [json.loads((d / "table1_provenance.json").read_text()) for d in (ours, again)]
    assert {k: v for k, v in prov[0].items() if k not in paths} == {k: v for k, v in prov[1].items() if k not in paths}
