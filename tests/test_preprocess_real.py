"""Preprocessing of the real clips in ../shared: detection, crops, landmarks, stream copy, 30 -> 25 fps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stsa.data.audio import load_wav, melspectrogram
from stsa.data.clip import ClipData
from stsa.data.crops import crop_faces
from stsa.data.datasets import Clip
from stsa.data.landmarks import select_131
from stsa.data.preprocess import preprocess_clip
from stsa.data.video import probe, read_frames


@pytest.fixture(scope="module")
def detector():
    from stsa.data.facemesh import FaceMeshDetector

    with FaceMeshDetector() as det:
        yield det


def _clip(video: Path, audio: Path | None = None, clip_id: str = "c") -> Clip:
    return Clip(clip_id, Path(video), None if audio is None else Path(audio), "test")


# ------------------------------------------------------------------------------------------ real clips


@pytest.fixture(scope="module")
def real_out(real_clips: Path, tmp_path_factory, detector) -> dict:
    out = tmp_path_factory.mktemp("real")
    rows = {}
    for video in sorted(real_clips.glob("0*.mp4")):
        rows[video] = preprocess_clip(_clip(video, clip_id=video.stem), out / video.stem, detector=detector)
    return {"out": out, "rows": rows}


def test_real_clips_ok(real_out: dict, detector) -> None:
    assert len(real_out["rows"]) == 3
    for src, row in real_out["rows"].items():
        assert row["status"] == "ok", row["reason"]
        assert row["detection_rate"] == 1.0 and row["interpolated_frames"] == 0
        d = ClipData.load(real_out["out"] / src.stem)
        t = d.n_frames
        assert t == probe(src).n_frames == row["n_frames"]
        assert d.crops.shape == (t, 128, 128, 3) and d.crops.dtype == np.uint8
        assert d.landmarks.shape == (t, 131, 2) and d.landmarks.dtype == np.float32
        assert d.points.shape == (t, 131, 2) and tuple(d.frame_size) == (224, 224)
        assert d.landmarks.min() > 0 and d.landmarks.max() < 1  # inside the +-5 px margins
        assert d.detected.all() and d.boxes.dtype == np.int32
        assert (d.boxes[:, 2] > d.boxes[:, 0]).all() and (d.boxes[:, 3] > d.boxes[:, 1]).all()
        assert d.boxes[:, [0, 1]].min() >= 0 and d.boxes[:, [2, 3]].max() <= 224
        # 25 fps input: video.mp4 is a stream copy, frame-identical to the source
        frames = read_frames(d.video_path)
        np.testing.assert_array_equal(frames, read_frames(src))
        # crops are exactly crop_faces of the written video's frames (so GT vs itself is exact)
        np.testing.assert_array_equal(d.crops, crop_faces(frames, d.boxes))
        # audio: 16 kHz mono, exactly T/25 s; mel of it
        info = sf.info(str(d.audio_path))
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, t * 640)
        np.testing.assert_allclose(d.mel, melspectrogram(load_wav(d.audio_path)), atol=1e-6)
        assert d.mel.shape == (80, t * 640 // 200 + 1)
    # landmarks are an independent FaceMesh run on a decoded frame, normalised by the float bounds (+-5 px)
    d = ClipData.load(real_out["out"] / "00010")
    frame = read_frames(d.video_path)[17]
    ref = select_131(detector.detect(frame))
    np.testing.assert_array_equal(d.points[17], ref)
    lo, hi = np.maximum(ref.min(0) - 5.0, 0), np.minimum(ref.max(0) + 5.0, 224)
    np.testing.assert_allclose(d.landmarks[17], (ref - lo) / (hi - lo), atol=1e-6)
    x1, y1, x2, y2 = d.boxes[17]
    # crop box = min/max of the 131 points +- 5 px, truncated to int
    assert x1 == int(max(ref[:, 0].min() - 5, 0)) and x2 == int(min(ref[:, 0].max() + 5, 224))
    assert y1 == int(max(ref[:, 1].min() - 5, 0)) and y2 == int(min(ref[:, 1].max() + 5, 224))


def test_30fps_template_with_separate_44k_stereo_audio(real_clips: Path, tmp_path: Path, detector) -> None:
    video, audio = real_clips / "template_129_30fps_noaudio.mp4", real_clips / "driving_audio2.wav"
    row = preprocess_clip(_clip(video, audio), tmp_path / "t", detector=detector)
    assert row["status"] == "ok", row["reason"]
    src = probe(video)
    expected = src.duration * 25
    assert abs(row["n_frames"] - expected) <= 1
    assert (row["fps_in"], row["fps_out"], row["sample_rate_in"], row["channels_in"]) == (30.0, 25, 44100, 2)
    assert row["duration_video"] == pytest.approx(9.0, abs=0.05)
    assert row["duration_audio"] == pytest.approx(sf.info(str(audio)).duration, abs=0.01)
    out = probe(tmp_path / "t" / "video.mp4")
    assert out.fps == 25 and not out.has_audio
    info = sf.info(str(tmp_path / "t" / "audio.wav"))
    assert (info.samplerate, info.channels, info.frames) == (16000, 1, row["n_frames"] * 640)
    assert json.loads((tmp_path / "t" / "status.json").read_text()) == row
