"""Preprocessing: audio handling, rejections, missing-face interpolation, dataset manifest and CLI."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stsa.data.audio import extract_wav, load_wav
from stsa.data.clip import ClipData, read_status
from stsa.data.datasets import Clip
from stsa.data.preprocess import (
    PreprocessConfig,
    interpolate_missing,
    longest_run,
    preprocess_clip,
    preprocess_dataset,
    register,
)
from stsa.data.video import read_frames, write_video


@pytest.fixture(scope="module")
def detector():
    from stsa.data.facemesh import FaceMeshDetector

    with FaceMeshDetector() as det:
        yield det


@pytest.fixture(scope="module")
def source(real_clips: Path, tmp_path_factory) -> dict:
    """30 real frames of 00002.mp4 (224x224) and its 16 kHz mono audio."""
    tmp = tmp_path_factory.mktemp("src")
    frames = read_frames(real_clips / "00002.mp4")[:30]
    extract_wav(real_clips / "00002.mp4", tmp / "a.wav")
    wav = load_wav(tmp / "a.wav")
    video = tmp / "face.mp4"
    write_video(video, frames, audio=tmp / "a.wav")
    return {"frames": frames, "wav": wav, "wav_path": tmp / "a.wav", "video": video, "dir": tmp}


def _clip(video: Path, audio: Path | None = None, clip_id: str = "c") -> Clip:
    return Clip(clip_id, Path(video), None if audio is None else Path(audio), "test")


# ------------------------------------------------------------------------------------------ audio handling


@pytest.mark.parametrize("seconds", [0.6, 2.0])
def test_stereo_44k_audio_shorter_or_longer(source: dict, tmp_path: Path, detector, seconds: float) -> None:
    """A 44.1 kHz stereo wav becomes 16 kHz mono (the channel mean), cut or zero-padded to the video."""
    from scipy.signal import resample_poly

    rng = np.random.default_rng(0)
    n = int(44100 * seconds)
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 44100)
    stereo = np.stack([tone + 0.05 * rng.standard_normal(n), 0.5 * tone], axis=1).astype(np.float32)
    sf.write(str(tmp_path / "s.wav"), stereo, 44100, subtype="PCM_16")
    row = preprocess_clip(_clip(source["video"], tmp_path / "s.wav"), tmp_path / "c", detector=detector)
    assert row["status"] == "ok", row["reason"]
    assert (row["sample_rate_in"], row["channels_in"], row["n_frames"]) == (44100, 2, 30)
    assert row["duration_audio"] == pytest.approx(seconds, abs=0.01)
    assert row["duration_video"] == pytest.approx(1.2, abs=0.05)
    data, sr = sf.read(str(tmp_path / "c" / "audio.wav"))
    assert sr == 16000 and data.ndim == 1 and len(data) == 30 * 640
    ref = resample_poly(stereo.mean(axis=1), 160, 441)[: len(data)]
    m = min(len(ref), len(data)) - 200
    assert np.corrcoef(ref[200:m], data[200:m])[0, 1] > 0.99
    if seconds < 1.2:
        assert np.abs(data[int(0.62 * 16000):]).max() == 0  # padded with silence


def test_silent_and_missing_audio_rejected(source: dict, tmp_path: Path, detector) -> None:
    sf.write(str(tmp_path / "silent.wav"), np.zeros(32000, np.float32), 16000)
    row = preprocess_clip(_clip(source["video"], tmp_path / "silent.wav"), tmp_path / "a", detector=detector)
    assert row["status"] == "rejected" and "silent audio" in row["reason"] and "silent.wav" in row["reason"]
    write_video(tmp_path / "mute.mp4", source["frames"])
    row = preprocess_clip(_clip(tmp_path / "mute.mp4"), tmp_path / "b", detector=detector)
    assert row["status"] == "rejected" and "no audio track" in row["reason"] and "mute.mp4" in row["reason"]
    assert read_status(tmp_path / "b") == row
    assert not (tmp_path / "b" / "clip.npz").exists() and not (tmp_path / "b" / "video.mp4").exists()


# ------------------------------------------------------------------------------------------ rejections


def test_noise_video_rejected_no_face(source: dict, tmp_path: Path, detector) -> None:
    noise = np.random.default_rng(1).integers(0, 256, (30, 128, 128, 3), dtype=np.uint8)
    write_video(tmp_path / "noise.mp4", noise, audio=source["wav_path"])
    row = preprocess_clip(_clip(tmp_path / "noise.mp4"), tmp_path / "n", detector=detector)
    assert row["status"] == "rejected" and "no face" in row["reason"] and "noise.mp4" in row["reason"]
    assert row["detection_rate"] == 0.0
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == ["status.json"]


def test_truncated_and_missing_files_rejected(real_clips: Path, tmp_path: Path, detector) -> None:
    data = (real_clips / "00002.mp4").read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])
    row = preprocess_clip(_clip(tmp_path / "half.mp4"), tmp_path / "h", detector=detector)
    assert row["status"] == "rejected" and "half.mp4" in row["reason"]
    assert "corrupt or truncated" in row["reason"]
    row = preprocess_clip(_clip(tmp_path / "gone.mp4"), tmp_path / "g", detector=detector)
    assert row["status"] == "rejected" and "gone.mp4" in row["reason"] and "not found" in row["reason"]
    assert (tmp_path / "g" / "status.json").is_file()


def test_too_short_rejected(source: dict, tmp_path: Path, detector) -> None:
    write_video(tmp_path / "short.mp4", source["frames"][:20], audio=source["wav_path"])
    row = preprocess_clip(_clip(tmp_path / "short.mp4"), tmp_path / "s", detector=detector)
    assert row["status"] == "rejected" and "too short" in row["reason"] and row["n_frames"] == 20


# ------------------------------------------------------------------------------------------ missing faces


def test_interpolate_missing_and_longest_run() -> None:
    pts = np.arange(6, dtype=np.float32)[:, None] * np.array([2.0, -1.0], np.float32)  # (6,2)
    found = np.array([False, True, False, False, True, False])
    garbage = pts.copy()
    garbage[~found] = np.nan
    out = interpolate_missing(garbage, found)
    np.testing.assert_allclose(out[[1, 2, 3, 4]], pts[[1, 2, 3, 4]], atol=1e-6)  # linear inside
    np.testing.assert_allclose(out[0], pts[1])  # edges extended
    np.testing.assert_allclose(out[5], pts[4])
    assert longest_run(~found) == 2 and longest_run(np.zeros(4, bool)) == 0
    assert longest_run(np.array([True, True, False, True, True, True])) == 3


def test_short_gap_interpolated_long_gap_rejected(source: dict, tmp_path: Path, detector) -> None:
    frames = source["frames"].copy()
    frames[10:13] = 0  # 3 black frames: no face
    write_video(tmp_path / "gap3.mp4", frames, audio=source["wav_path"])
    row = preprocess_clip(_clip(tmp_path / "gap3.mp4"), tmp_path / "a", detector=detector)
    assert row["status"] == "ok", row["reason"]
    assert row["interpolated_frames"] == 3 and row["detection_rate"] == pytest.approx(27 / 30, abs=1e-4)
    d = ClipData.load(tmp_path / "a")
    np.testing.assert_array_equal(np.flatnonzero(~d.detected), [10, 11, 12])
    mid = (d.boxes[9].astype(float) + d.boxes[13]) / 2  # interpolated box lies between its neighbours
    assert np.abs(d.boxes[11] - mid).max() <= 2.0

    frames[10:20] = 0  # 10 missing frames = 33% and a gap of 10
    write_video(tmp_path / "gap10.mp4", frames, audio=source["wav_path"])
    row = preprocess_clip(_clip(tmp_path / "gap10.mp4"), tmp_path / "b", detector=detector)
    assert row["status"] == "rejected" and "no face in 33% of frames" in row["reason"]
    cfg = PreprocessConfig(max_missing=0.5, max_gap=10)
    row = preprocess_clip(_clip(tmp_path / "gap10.mp4"), tmp_path / "c", cfg, detector=detector)
    assert row["status"] == "ok" and row["interpolated_frames"] == 10


# ------------------------------------------------------------------------------------------ dataset + CLI


def _lrs2(root: Path, source: dict, present: list[str], listed: list[str]) -> None:
    for cid in present:
        (root / "mvlrs_v1/main" / cid).parent.mkdir(parents=True, exist_ok=True)
        (root / "mvlrs_v1/main" / f"{cid}.mp4").write_bytes(source["video"].read_bytes())
    (root / "test.txt").write_text("".join(f"{c} NF\n" for c in listed))


def test_dataset_with_missing_clip_and_cli(source: dict, tmp_path: Path, capsys) -> None:
    root, out = tmp_path / "lrs2", tmp_path / "pre"
    _lrs2(root, source, ["111/00001"], ["111/00001", "222/00002"])
    df = preprocess_dataset("lrs2", root, out, "test")
    assert list(df["clip"]) == ["111/00001", "222/00002"]
    assert list(df["status"]) == ["ok", "rejected"] and "not found" in df["reason"][1]
    manifest = __import__("pandas").read_csv(out / "manifest.csv", dtype={"clip": str})
    assert list(manifest["split"]) == ["test", "test"] and list(manifest["status"]) == ["ok", "rejected"]
    assert ClipData.load(out / "111/00001").n_frames == 30

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["preprocess", "--dataset", "lrs2", "--root", str(root), "--out", str(out),
                              "--limit", "1", "--max-missing", "0.1"])
    assert args.func(args) == 0
    assert "1 ok, 0 rejected" in capsys.readouterr().out
    assert len(__import__("pandas").read_csv(out / "manifest.csv")) == 2  # rows replaced, not duplicated

    args = parser.parse_args(["preprocess-clip", "--video", str(source["video"]), "--audio",
                              str(source["wav_path"]), "--clip-id", "x/1", "--out", str(tmp_path / "one")])
    assert args.func(args) == 0
    assert read_status(tmp_path / "one")["status"] == "ok"


def test_cmlr_dataset_separate_audio(source: dict, tmp_path: Path) -> None:
    root, out = tmp_path / "cmlr", tmp_path / "pre"
    ids = ["s1/20170121/section_1_000.80_002.91", "s2/20170121/section_2_001.00_002.00"]
    for cid in ids:
        write_video(root / "video" / f"{cid}.mp4", source["frames"])  # no audio track: audio is separate
    (root / "audio" / ids[0]).parent.mkdir(parents=True)
    (root / "audio" / f"{ids[0]}.wav").write_bytes(source["wav_path"].read_bytes())
    (root / "test.csv").write_text("id,text\n" + "".join(f"{c},x\n" for c in ids))
    df = preprocess_dataset("cmlr", root, out, "test")
    assert list(df["status"]) == ["ok", "rejected"]
    assert "audio file not found" in df["reason"][1] and f"{ids[1]}.wav" in df["reason"][1]
    d = ClipData.load(out / ids[0])
    assert d.n_frames == 30 and d.status["source_audio"].endswith(f"{ids[0]}.wav")
    assert sf.info(str(d.audio_path)).frames == 30 * 640
