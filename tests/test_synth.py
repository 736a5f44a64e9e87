"""The demo corpus: real layouts, determinism, detectable faces whose mouths follow the audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stsa.cli import main as cli_main
from stsa.data.audio import extract_wav, load_wav
from stsa.data.facemesh import FaceMeshDetector
from stsa.data.landmarks import mouth_openness, select_131
from stsa.data.synth import generate_corpus, split_counts
from stsa.data.synth_speech import HOP, all_syllables, plan_utterance, synthesize
from stsa.data.video import probe, read_frames

LRS2_MAIN = "mvlrs_v1/main"


@pytest.fixture(scope="module")
def lrs2_corpus(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("lrs2")
    return out, generate_corpus(out, "lrs2", n_train=2, n_val=0, n_test=1, seconds=1.6, seed=3)


@pytest.fixture(scope="module")
def detector():
    with FaceMeshDetector() as det:
        yield det


def test_lrs2_layout_and_audio(lrs2_corpus, tmp_path):
    out, ids = lrs2_corpus
    assert (out / "train.txt").read_text().splitlines() == ids["train"]
    assert (out / "val.txt").read_text() == "" and ids["val"] == []
    assert (out / "test.txt").read_text().splitlines() == [f"{c} NF" for c in ids["test"]]
    for clip in ids["train"] + ids["test"]:
        vid, utt = clip.split("/")
        assert len(vid) == 19 and vid.isdigit() and len(utt) == 5 and utt.isdigit()
        video = out / LRS2_MAIN / f"{clip}.mp4"
        info = probe(video)
        assert info.fps == 25 and (info.width, info.height) == (160, 160) and info.n_frames == 40
        assert (info.audio_rate, info.audio_channels) == (16000, 1)
        controls = np.load(video.with_suffix(".controls.npz"))
        for key in ("jaw_open", "lip_spread", "blink", "rotation", "scale", "syllable"):
            assert controls[key].shape == (40,), key
        assert controls["translation"].shape == (40, 2)
    extract_wav(out / LRS2_MAIN / f"{ids['test'][0]}.mp4", tmp_path / "a.wav")
    wav = load_wav(tmp_path / "a.wav")
    assert abs(len(wav) - 40 * HOP) <= 1024 and np.sqrt(np.mean(wav ** 2)) > 0.01  # AAC priming tolerance


def test_cmlr_layout(tmp_path, detector):
    ids = generate_corpus(tmp_path, "cmlr", n_train=0, n_val=1, n_test=1, seconds=1.2, seed=0)
    assert (tmp_path / "val.csv").read_text().splitlines() == ids["val"]
    assert (tmp_path / "test.csv").read_text().splitlines() == ids["test"]
    assert (tmp_path / "train.csv").read_text() == ""
    clip = ids["test"][0]
    speaker, date, stem = clip.split("/")
    assert speaker[0] == "s" and speaker[1:].isdigit() and len(date) == 8 and date.isdigit()
    _, k, start, end = stem.split("_")
    assert stem.startswith("section_") and k.isdigit() and float(end) - float(start) == pytest.approx(1.2)
    video = tmp_path / "video" / f"{clip}.mp4"
    info = probe(video)
    assert not info.has_audio and (info.width, info.height) == (224, 224)
    import soundfile as sf

    data, sr = sf.read(tmp_path / "audio" / f"{clip}.wav", always_2d=True)
    assert sr == 16000 and data.shape == (30 * HOP, 1)
    _, found = detector.detect_many(read_frames(video))
    assert found.all(), f"face missed in {int((~found).sum())} of {len(found)} frames"


def test_same_seed_same_content(lrs2_corpus, tmp_path):
    out, ids = lrs2_corpus
    # the first clip depends only on the seed, not on how many clips are generated beside it
    again = generate_corpus(tmp_path / "a", "lrs2", n_train=1, n_val=0, n_test=0, seconds=1.6, seed=3)
    assert again["train"] == ids["train"][:1]
    a, b = out / LRS2_MAIN / f"{ids['train'][0]}.mp4", tmp_path / "a" / LRS2_MAIN / f"{again['train'][0]}.mp4"
    np.testing.assert_array_equal(read_frames(a), read_frames(b))
    extract_wav(a, tmp_path / "a.wav")
    extract_wav(b, tmp_path / "b.wav")
    np.testing.assert_array_equal(load_wav(tmp_path / "a.wav"), load_wav(tmp_path / "b.wav"))
    ca, cb = np.load(a.with_suffix(".controls.npz")), np.load(b.with_suffix(".controls.npz"))
    for key in ca.files:
        np.testing.assert_array_equal(ca[key], cb[key])
    other = generate_corpus(tmp_path / "o", "lrs2", n_train=1, n_val=0, n_test=0, seconds=1.6, seed=4)
    c = tmp_path / "o" / LRS2_MAIN / f"{other['train'][0]}.mp4"
    assert other["train"] != ids["train"][:1]
    assert not np.array_equal(np.load(c.with_suffix(".controls.npz"))["jaw_open"], ca["jaw_open"])


def test_faces_detected_and_mouth_follows_jaw_control(lrs2_corpus, detector):
    out, ids = lrs2_corpus
    for clip in ids["train"] + ids["test"]:  # identities 0, 1 (the photos) and 2 (mirrored, recoloured)
        video = out / LRS2_MAIN / f"{clip}.mp4"
        points, found = detector.detect_many(read_frames(video))
        assert found.all(), f"{clip}: face missed in {int((~found).sum())} frames"
        jaw = np.load(video.with_suffix(".controls.npz"))["jaw_open"]
        assert jaw.max() > 0.5 and jaw.min() < 0.05
        r = np.corrcoef(mouth_openness(select_131(points)), jaw)[0, 1]
        assert r > 0.8, f"{clip}: Pearson r {r:.2f} between measured mouth openness and jaw_open"


def test_same_syllable_same_mouth_state():
    rng = np.random.default_rng(0)
    syllable = all_syllables()[17]
    a = synthesize([2, syllable, 3], 120.0, rng)
    b = synthesize([5, syllable, 1], 190.0, rng)  # other pitch and position
    n = syllable.n_frames
    np.testing.assert_allclose(a.jaw_open[2:2 + n], b.jaw_open[5:5 + n], atol=1e-12)
    np.testing.assert_allclose(a.lip_spread[2:2 + n], b.lip_spread[5:5 + n], atol=1e-12)
    assert (a.syllable[2:2 + n] == syllable.index).all() and (a.syllable[:2] == -1).all()
    assert a.jaw_open[:2].max() == 0 and a.jaw_open[2:2 + n].max() > 0.2
    assert len(a.audio) == (5 + n) * HOP and a.audio.dtype == np.float32
    # the sound differs only by pitch: its loudness envelope per frame matches
    rms = lambda x, s: np.sqrt((x[s * HOP:(s + n) * HOP].reshape(n, HOP) ** 2).mean(1))  # noqa: E731
    np.testing.assert_allclose(rms(a.audio, 2), rms(b.audio, 5), rtol=0.35)


def test_open_vowels_open_the_jaw_and_plans_fill_the_clip():
    from stsa.data.synth_speech import Syllable

    jaw = {v: synthesize([Syllable("", v, 1)], 150.0, np.random.default_rng(0)).jaw_open.max() for v in "aeiou"}
    assert jaw["a"] > jaw["e"] > jaw["i"] and jaw["o"] > jaw["u"]
    spread = {v: synthesize([Syllable("", v, 1)], 150.0, np.random.default_rng(0)).lip_spread.max()
              for v in "iu"}
    assert spread["i"] > 0.5 > -0.5 > spread["u"]
    for seed in range(5):
        plan = plan_utterance(75, np.random.default_rng(seed))
        assert sum(s if isinstance(s, int) else s.n_frames for s in plan) == 75


def test_split_counts_and_cli(tmp_path):
    assert split_counts(40) == (32, 0, 8)
    assert split_counts(40, val=4) == (32, 4, 8)
    assert split_counts(10, train=3) == (3, 0, 7)
    assert split_counts(10, train=3, test=1) == (3, 0, 1)
    assert cli_main(["synth", "--out", str(tmp_path), "--layout", "lrs2", "--train", "1", "--test", "0",
                     "--seconds", "1.2", "--seed", "9"]) == 0
    (clip,) = (tmp_path / "train.txt").read_text().splitlines()
    assert probe(tmp_path / LRS2_MAIN / f"{clip}.mp4").n_frames == 30
    with pytest.raises(ValueError, match="layout"):
        generate_corpus(tmp_path, "vox", 1, 0, 0)
