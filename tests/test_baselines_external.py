"""Official-code plumbing with a fixture repository, precomputed ingestion, run_method rows, `baselines list`."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from baselines_fixtures import make_clip
from official_fixtures import fixture_openface_csv

from baselines.base import ClipJob
from baselines.official.external import Checkpoint, OfficialAdapter, OfficialMethod
from baselines.run import run_method
from stsa.data.video import probe, read_frames

# A stand-in for an official inference script: reads --face, writes --outfile at 30 fps and half size, no audio
# (so the normaliser must convert fps, resize and mux); --mode crash exits 3 after printing to stderr; the other
# modes exit 0 the ways official scripts do: after printing a caught traceback, writing the video into the cwd's
# results/ instead of --outfile, or writing nothing.
FIXTURE_SCRIPT = '''
import argparse, os, sys, traceback
import numpy as np
from stsa.data.video import read_frames, write_video
p = argparse.ArgumentParser()
for name in ("--face", "--audio", "--outfile"):
    p.add_argument(name)
p.add_argument("--mode", default="ok")
a = p.parse_args()
if a.mode == "crash":
    print("RuntimeError: fixture crash on purpose", file=sys.stderr); sys.exit(3)
if a.mode == "traceback":
    try:
        raise ValueError("fixture error caught on purpose")
    except Exception:
        traceback.print_exc()
    sys.exit(0)
if a.mode == "nothing":
    sys.exit(0)
if a.mode == "elsewhere":
    os.makedirs("results", exist_ok=True)
    a.outfile = "results/result.mp4"
assert open(a.audio, "rb").read(4) == b"RIFF"
f = read_frames(a.face)
idx = np.round(np.arange(int(len(f) * 30 / 25)) * 25 / 30).astype(int).clip(0, len(f) - 1)
write_video(a.outfile, np.ascontiguousarray(f[idx, ::2, ::2]), fps=30, crf=0)
'''


@pytest.fixture
def fixture_official_repo(tmp_path) -> Path:
    """A fake official repository (in a folder whose name has spaces) with a checkpoint file; never a table row."""
    repo = tmp_path / "fixture official repo"
    (repo / "checkpoints").mkdir(parents=True)
    (repo / "infer.py").write_text(FIXTURE_SCRIPT)
    (repo / "checkpoints" / "model.pth").write_bytes(b"weights")
    return repo


def _spec(mode: str = "ok", **fields) -> OfficialMethod:
    def command(ctx):
        return [ctx.python, "infer.py", "--face", ctx.video, "--audio", ctx.audio, "--outfile",
                ctx.out_dir / "result.mp4", "--mode", mode]

    return OfficialMethod(name="fixture-official", label="Fixture", repo_url="https://example.invalid/fixture",
                          commit="0" * 40, checkpoints=(Checkpoint("checkpoints/model.pth", "7 B", "the test"),),
                          environment="this interpreter", command=command, output_name="result.mp4", **fields)


@pytest.fixture
def stsa_on_path(monkeypatch):
    import os

    root = str(Path(__file__).resolve().parents[1])  # the fixture script imports stsa
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "spk1" / "00001", n_frames=20)


def _job(clip, out_dir, cid="spk1/00001"):
    return ClipJob(cid, clip, clip / "audio.wav", out_dir / "with space" / f"{cid}.mp4")


def test_official_plumbing_end_to_end(fixture_official_repo, clip, tmp_path, stsa_on_path):
    adapter = OfficialAdapter({"python": sys.executable, "repo": str(fixture_official_repo)}, spec=_spec())
    assert adapter.status().ready, adapter.status()
    job = _job(clip, tmp_path)
    [row] = adapter.dub([job])
    assert row["status"] == "ok", row
    out, gt = probe(job.out_path), probe(clip / "video.mp4")
    assert (out.width, out.height) == (gt.width, gt.height) and abs(out.fps - 25) < 1e-6 and out.has_audio
    frames = read_frames(job.out_path)
    assert len(frames) == 20
    ref = read_frames(clip / "video.mp4").astype(np.float32)
    assert np.abs(frames.astype(np.float32) - ref).mean() < 12  # same content after the half-size round trip
    meta = json.loads(job.meta_path.read_text())
    assert meta["checkpoints"]["checkpoints/model.pth"] == __import__("hashlib").sha256(b"weights").hexdigest()
    assert meta["version"] == "https://example.invalid/fixture@" + "0" * 40
    assert meta["frames_generated"] == 20 and meta["fps_method"] == 30 and meta["frames_padded"] == 0  # at 25 fps


def test_crashing_official_process_leaves_its_log(fixture_official_repo, clip, tmp_path):
    adapter = OfficialAdapter({"python": sys.executable, "repo": str(fixture_official_repo)}, spec=_spec("crash"))
    job = _job(clip, tmp_path)
    [row] = adapter.dub([job])
    assert row["status"] == "failed" and "fixture crash on purpose" in row["reason"]
    assert job.log_path.is_file() and "exit 3" in job.log_path.read_text()
    assert not job.out_path.exists()


@pytest.mark.parametrize("mode, said", [("traceback", "ValueError: fixture error caught on purpose"),
                                        ("elsewhere", ""), ("nothing", "")])
def test_exit_0_without_the_output_is_a_failure_with_its_log(fixture_official_repo, clip, tmp_path, stsa_on_path,
                                                             mode, said):
    adapter = OfficialAdapter({"python": sys.executable, "repo": str(fixture_official_repo)}, spec=_spec(mode))
    job = _job(clip, tmp_path)
    [row] = adapter.dub([job])
    assert row["status"] == "failed" and "exited 0 but wrote no output at" in row["reason"]
    assert "result.mp4" in row["reason"] and str(job.log_path) in row["reason"] and said in row["reason"]
    assert "[exit 0]" in job.log_path.read_text() and not job.out_path.exists()


def test_an_output_older_than_the_run_is_not_taken(fixture_official_repo, clip, tmp_path):
    """An official script that writes to a fixed place in its checkout and exits 0 without writing this time."""
    import os

    stale = fixture_official_repo / "results" / "result.mp4"
    stale.parent.mkdir()
    stale.write_bytes((clip / "video.mp4").read_bytes())
    os.utime(stale, (1e9, 1e9))
    spec = _spec("nothing", output_path=lambda ctx: ctx.repo / "results" / "result.mp4")
    [row] = OfficialAdapter({"python": sys.executable, "repo": str(fixture_official_repo)}, spec=spec).dub(
        [_job(clip, tmp_path)])
    assert row["status"] == "failed" and "older than this run" in row["reason"]


def test_official_status_names_what_is_missing(tmp_path):
    st = OfficialAdapter({"python": sys.executable, "repo": str(tmp_path)}, spec=_spec()).status()
    assert not st.ready and any("checkpoints/model.pth" in m and "the test" in m for m in st.missing)
    st = OfficialAdapter({}, spec=_spec()).status()
    assert any(m.startswith("option python=") for m in st.missing)
    assert any("git checkout " + "0" * 40 in m for m in st.missing)


def test_precomputed_ingestion_with_a_missing_clip(clip, tmp_path):
    from baselines.trivial import remux_with_audio

    pre = tmp_path / "pre"
    (pre / "spk1").mkdir(parents=True)
    remux_with_audio(clip / "video.mp4", clip / "audio.wav", pre / "spk1" / "00001.mp4")
    jobs = [_job(clip, tmp_path), _job(clip, tmp_path, "spk1/99999")]
    df = run_method("precomputed", {"dir": str(pre)}, jobs)
    assert list(df["clip"]) == ["spk1/00001", "spk1/99999"]
    assert list(df["status"]) == ["ok", "failed"]
    assert "no precomputed output" in df.loc[1, "reason"] and "99999.mp4" in df.loc[1, "reason"]
    assert np.array_equal(read_frames(jobs[0].out_path), read_frames(clip / "video.mp4"))  # lossless re-mux


def test_not_ready_method_gives_unavailable_rows_or_raises_when_required(clip, tmp_path):
    from stsa.errors import WeightsError

    jobs = [_job(clip, tmp_path)]
    df = run_method("difftalk", {}, jobs)
    assert df.loc[0, "status"] == "unavailable" and "never released" in df.loc[0, "reason"]
    assert json.loads(jobs[0].meta_path.read_text())["status"] == "unavailable"
    with pytest.raises(WeightsError, match="required"):
        run_method("difftalk", {}, jobs, required=True)


def test_difftalk_takes_precomputed_outputs(clip, tmp_path):
    from baselines.registry import get_adapter
    from baselines.trivial import remux_with_audio

    pre = tmp_path / "difftalk_outputs" / "spk1"
    pre.mkdir(parents=True)
    remux_with_audio(clip / "video.mp4", clip / "audio.wav", pre / "00001.mp4")
    adapter = get_adapter("difftalk", {"dir": str(pre.parent)})
    assert adapter.status().ready and adapter.label == "DiffTalk"
    df = run_method("difftalk", {"dir": str(pre.parent)}, [_job(clip, tmp_path)])
    assert df.loc[0, "status"] == "ok", df.loc[0, "reason"]


def test_baselines_list_names_missing_checkpoints(tmp_path, monkeypatch, capsys):
    from stsa.cli import main

    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert main(["baselines", "list"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("wav2lip "))
    assert "NOT READY" in line
    assert "wav2lip.pth" in out and "Getting the weights" in out
    assert "GT" in out and next(ln for ln in out.splitlines() if ln.startswith("gt ")).endswith("ready")
    assert "never released" in out


def test_baselines_run_cli(clip, tmp_path, capsys):
    from stsa.cli import main

    split = tmp_path / "test.txt"
    split.write_text("spk1/00001 NF\n")
    out = tmp_path / "dubbed"
    assert main(["baselines", "run", "--method", "gt", "--clips-root", str(clip.parents[1]), "--split-list",
                 str(split), "--out", str(out)]) == 0
    assert (out / "spk1" / "00001.mp4").is_file() and (out / "spk1" / "00001.json").is_file()
    assert "1 clips" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["wav2lip-official", "pc-avs", "talklip", "ip-lap", "dinet", "musetalk"])
def test_every_official_command_is_an_argument_list(name, clip, tmp_path):
    """Each method's prepare step and command build without a shell; the repo path (with spaces) stays one arg."""
    import shutil

    from baselines.official.methods import OFFICIAL_METHODS

    spec = OFFICIAL_METHODS[name]
    repo = tmp_path / "checkout with spaces"
    repo.mkdir()
    lmk = tmp_path / "openface"
    (lmk / "spk1").mkdir(parents=True)
    fixture_openface_csv(lmk / "spk1" / "00001.csv", np.full((20, 68, 2), 50.0))
    opts = {"python": sys.executable, "repo": str(repo), "landmark_dir": str(lmk), "avhubert_root": str(repo)}
    adapter = OfficialAdapter(opts, spec=spec)
    work = tmp_path / "work"
    ctx, cmd = adapter.build(_job(clip, tmp_path), work)
    try:
        assert cmd[0] == sys.executable and all(isinstance(c, str) for c in cmd)
        listed = " ".join(cmd) + "".join(f.read_text() for f in work.glob("*.csv")) + "".join(
            f.read_text() for f in work.glob("*.yaml"))
        audio = [w for w in re.split(r"[\s\"=]+", listed) if w.endswith(".wav")]
        assert len(audio) == 1 and Path(audio[0]).parent == work and Path(audio[0]).read_bytes()[:4] == b"RIFF"
        assert ctx.video.is_file()
        assert not adapter.status().ready  # no checkpoints in the empty checkout
        if name == "pc-avs":
            line = (work / "meta.csv").read_text().split()
            assert len(line) == 8 and len(list(Path(line[2]).glob("*.jpg"))) == 20 and line[3] == "20"
        if name == "musetalk":
            assert str(ctx.video) in (work / "task.yaml").read_text()
            assert Path(cmd[cmd.index("--ffmpeg_path") + 1], "ffmpeg").exists()
        if name == "dinet":
            assert (work / "input.csv").is_file()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_unknown_method_is_a_clear_cli_error(tmp_path, capsys):
    from stsa.cli import main

    split = tmp_path / "ids.txt"
    split.write_text("a/1\n")
    assert main(["baselines", "run", "--method", "nosuch", "--clips-root", str(tmp_path), "--split-list",
                 str(split), "--out", str(tmp_path / "out")]) == 2
    assert "unknown method 'nosuch'" in capsys.readouterr().err
