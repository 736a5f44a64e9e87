"""The ground-truth feature cache shared by concurrent evaluate jobs: unique temporary files and atomic renames, so
two processes filling one cold cache lose nothing and give identical, complete results."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from metrics_data import make_gt

from metrics.cache import FeatureCache
from metrics.inputs import GroundTruth
from tests.conftest import ROOT

# Both processes import what they need, wait at a file barrier (``both_ready()``), then do the same work at once.
BARRIER = """
import sys, time
from pathlib import Path


def both_ready():
    me, other = Path(sys.argv[1]) / f"ready{sys.argv[2]}", Path(sys.argv[1]) / f"ready{1 - int(sys.argv[2])}"
    me.touch()
    while not other.exists():
        time.sleep(0.005)
"""


def _run_both(script: str, tmp: Path, *args: str) -> list[subprocess.CompletedProcess]:
    path = tmp / "job.py"
    path.write_text(BARRIER + textwrap.dedent(script))
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, str(path), str(tmp), str(i), *args], env=env, cwd=tmp,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def test_concurrent_writers_lose_no_entry(tmp_path):
    """Two processes computing and storing the same 60 entries at once: every get returns the arrays, none fails."""
    script = """
    import numpy as np
    from metrics.cache import FeatureCache
    from metrics.inputs import GroundTruth
    cache = FeatureCache(Path(sys.argv[1]) / "cache", "d")
    both_ready()
    for i in range(60):
        gt = GroundTruth(np.full((1, 2, 2, 3), i, np.uint8), clip_id=f"spk/{i:03d}")
        value = cache.get("feat", gt, lambda i=i: {"x": np.arange(20000, dtype=np.float32) + i})
        assert value["x"][0] == i, (i, value["x"][0])
    print("ok")
    """
    results = _run_both(script, tmp_path)
    for r in results:
        assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
    files = sorted((tmp_path / "cache" / "d" / "feat").iterdir())
    assert len(files) == 60 and all(f.suffix == ".npz" for f in files)  # no temporary file left behind
    cache = FeatureCache(tmp_path / "cache", "d")
    gt = GroundTruth(np.full((1, 2, 2, 3), 7, np.uint8), clip_id="spk/007")
    assert cache.has("feat", gt)
    assert cache.get("feat", gt, lambda: {"x": np.zeros(1)})["x"][5] == 12  # read back, not recomputed


def test_unreadable_entry_is_recomputed(tmp_path):
    cache = FeatureCache(tmp_path, "d")
    gt = GroundTruth(np.zeros((1, 2, 2, 3), np.uint8), clip_id="a")
    path = cache.path("feat", gt)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 truncated")
    assert cache.get("feat", gt, lambda: {"x": np.ones(3)})["x"].tolist() == [1, 1, 1]
    assert cache.get("feat", gt, lambda: {"x": np.zeros(3)})["x"].tolist() == [1, 1, 1]  # replaced on disk


@pytest.mark.slow
def test_two_concurrent_evaluations_on_a_cold_cache_give_identical_complete_tables(tmp_path):
    """Two evaluate processes on one cold cache. Writes are slowed down (as on a network file system) so that the
    two processes' writes of an entry overlap: with one shared temporary name (the old code) entries are lost and
    become NaN metrics."""
    root, pred = tmp_path / "gt", tmp_path / "pred"
    ids = [f"spk/{i:05d}" for i in range(8)]
    from stsa.data.video import write_video

    for i, cid in enumerate(ids):
        frames = make_gt(root, cid, n=6, seed=i)
        write_video(pred / f"{cid}.mp4", np.roll(frames, 2, axis=2))
    script = f"""
    from metrics.evaluator import evaluate_method
    from metrics.facemesh_pool import detector_for
    ids = {ids!r}
    import numpy as np
    _savez = np.savez

    def slow_savez(*args, **kwargs):  # a slow disk: each cache write takes 50 ms
        _savez(*args, **kwargs)
        time.sleep(0.05)

    np.savez = slow_savez
    detector_for(0, 0.25)  # FaceMesh graph built before the barrier: both start evaluating together
    both_ready()
    df, agg = evaluate_method(Path(sys.argv[1]) / "gt", Path(sys.argv[1]) / "pred", ids, "m", "d",
                              ["psnr", "dme_dis", "liplmd"], device="cpu", cache_dir=Path(sys.argv[1]) / "cache",
                              options={{"workers": 0}})
    df.to_csv(Path(sys.argv[1]) / f"rows{{sys.argv[2]}}.csv", index=False)
    """
    for r in _run_both(script, tmp_path):
        assert r.returncode == 0, r.stderr[-3000:]
    rows = [pd.read_csv(tmp_path / f"rows{i}.csv", dtype={"clip": str}) for i in (0, 1)]
    pd.testing.assert_frame_equal(rows[0], rows[1])
    assert (rows[0]["status"] == "ok").all() and rows[0]["DME[dis]"].notna().all() and rows[0]["PSNR"].notna().all()
    assert rows[0]["notes"].isna().all()  # no metric failed on any video
    assert (rows[0]["liplmd_failed_frames"] == 6).all()  # textures: FaceMesh finds no face, every frame counted
    for kind in ("flow_dis", "liplmd"):
        assert len(list((tmp_path / "cache" / "d" / kind).iterdir())) == len(ids)
