"""The demo corpus: real layouts, determinism, detectable faces whose mouths follow the audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stsa.data.audio import load_wav
from stsa.data.facemesh import FaceMeshDetector
from stsa.data.landmarks import mouth_openness, select_131
from stsa.data.synth import generate_corpus
from stsa.data.synth_speech import all_syllables, synthesize
from stsa.data.video import probe, read_frames


@pytest.fixture(scope="module")
def lrs2_corpus(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("lrs2")
    return out, generate_corpus(out, "lrs2", n_train=2, n_val=0, n_test=1, seconds=2.0, seed=3)


def test_lrs2_layout(lrs2_corpus):
    out, ids = lrs2_corpus
    assert (out / "train.txt").read_text().split() == ids["train"]
    assert (out / "test.txt").read_text().splitlines() == [f"{c} NF" for c in ids["test"]]
    for clip in ids["train"] + ids["test"]:
        video = out / "mvlrs_v1/main" / f"{clip}.mp4"
        info = probe(video)
        assert info.fps == 25 and (info.width, info.height) == (160, 160) and info.audio_rate == 16000
        assert video.with_suffix(".controls.npz").exists()
        assert len(clip.split("/")[0]) == 19


def test_cmlr_layout(tmp_path):
    ids = generate_corpus(tmp_path, "cmlr", n_train=0, n_val=1, n_test=1, seconds=2.0, seed=0)
    assert (tmp_path / "test.csv").read_text().split() == ids["test"]
    clip = ids["test"][0]
    assert clip.startswith("s") and "/section_" in clip
    info = probe(tmp_path / "video" / f"{clip}.mp4")
    assert not info.has_audio and info.width == 224
    wav = load_wav(tmp_path / "audio" / f"{clip}.wav")
    assert len(wav) == 50 * 640  # 2 s at 16 kHz, 50 frames


def test_same_seed_same_content(lrs2_corpus, tmp_path):
    out, ids = lrs2_corpus
    again = generate_corpus(tmp_path, "lrs2", n_train=2, n_val=0, n_test=1, seconds=2.0, seed=3)
    assert again == ids
    clip = ids["train"][1]
    a, b = out / "mvlrs_v1/main" / f"{clip}.mp4", tmp_path / "mvlrs_v1/main" / f"{clip}.mp4"
    np.testing.assert_array_equal(read_frames(a), read_frames(b))
    np.testing.assert_array_equal(np.load(a.with_suffix(".controls.npz"))["jaw_open"],
                                  np.load(b.with_suffix(".controls.npz"))["jaw_open"])
    other = generate_corpus(tmp_path / "other", "lrs2", n_train=1, n_val=0, n_test=0, seconds=2.0, seed=4)
    c = tmp_path / "other/mvlrs_v1/main" / f"{other['train'][0]}.mp4"
    assert not np.array_equal(np.load(c.with_suffix(".controls.npz"))["jaw_open"],
                              np.load(out / "mvlrs_v1/main" / f"{ids['train'][0]}.controls.npz")["jaw_open"])


def test_faces_detected_and_mouth_follows_jaw_control(lrs2_corpus):
    out, ids = lrs2_corpus
    video = out / "mvlrs_v1/main" / f"{ids['train'][0]}.mp4"
    frames = read_frames(video)
    jaw = np.load(video.with_suffix(".controls.npz"))["jaw_open"]
    with FaceMeshDetector() as detector:
        points, found = detector.detect_many(frames)
    assert found.all(), f"face missed in {int((~found).sum())} frames"
    openness = mouth_openness(select_131(points))
    assert np.corrcoef(openness, jaw)[0, 1] > 0.8


def test_same_syllable_same_mouth_state():
    rng = np.random.default_rng(0)
    syllable = all_syllables()[17]
    a = synthesize([2, syllable, 3], 120.0, rng)
    b = synthesize([5, syllable, 1], 190.0, rng)  # other pitch and position
    np.testing.assert_allclose(a.jaw_open[2:2 + syllable.n_frames], b.jaw_open[5:5 + syllable.n_frames], atol=1e-9)
    np.testing.assert_allclose(a.lip_spread[2:2 + syllable.n_frames], b.lip_spread[5:5 + syllable.n_frames])
    assert a.jaw_open[:2].max() == 0 and a.jaw_open[2:2 + syllable.n_frames].max() > 0.2
    assert len(a.audio) == (5 + syllable.n_frames) * 640 and a.audio.dtype == np.float32
