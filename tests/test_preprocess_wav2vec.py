"""wav2vec 2.0 features in preprocessing, on a tiny randomly initialised model saved to a tmp dir."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stsa.data.audio import extract_wav
from stsa.data.clip import ClipData
from stsa.data.datasets import Clip
from stsa.data.preprocess import PreprocessConfig, preprocess_clip, wav2vec_features
from stsa.data.video import read_frames, write_video


@pytest.fixture(scope="module")
def face_video(real_clips: Path, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("src")
    extract_wav(real_clips / "00002.mp4", tmp / "a.wav")
    write_video(tmp / "face.mp4", read_frames(real_clips / "00002.mp4")[:30], audio=tmp / "a.wav")
    return tmp / "face.mp4"


# ------------------------------------------------------------------------------------------ wav2vec


@pytest.fixture(scope="module")
def tiny_wav2vec(tmp_path_factory) -> Path:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    cfg = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    path = tmp_path_factory.mktemp("w2v")
    Wav2Vec2Model(cfg).eval().save_pretrained(path)
    return path


def test_wav2vec_features_match_transformers(tiny_wav2vec: Path) -> None:
    import torch
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    wav = np.random.default_rng(2).standard_normal(16000).astype(np.float32) * 0.1 + 0.02
    feats = wav2vec_features(wav, tiny_wav2vec, "cpu")
    assert feats.shape == (49, 32)  # 50 Hz: 1 s -> 49 frames (conv receptive field 400, stride 320)
    extractor = Wav2Vec2FeatureExtractor(do_normalize=True, sampling_rate=16000)
    inputs = extractor(wav, sampling_rate=16000, return_tensors="pt").input_values
    model = Wav2Vec2Model.from_pretrained(tiny_wav2vec).eval()
    with torch.no_grad():
        ref = model(inputs).last_hidden_state[0].numpy()
    np.testing.assert_allclose(feats, ref, atol=1e-4)


def test_preprocess_with_and_without_wav2vec(face_video: Path, tmp_path: Path, tiny_wav2vec: Path) -> None:
    cfg = PreprocessConfig(wav2vec_dir=tiny_wav2vec, device="cpu")
    row = preprocess_clip(Clip("w", face_video, None, "test"), tmp_path / "w", cfg)
    assert row["status"] == "ok" and row["wav2vec"] == "ok"
    d = ClipData.load(tmp_path / "w")
    assert d.wav2vec.dtype == np.float32 and d.wav2vec.shape[1] == 32
    assert abs(d.wav2vec.shape[0] - 2 * d.n_frames) <= 1  # 50 Hz vs 25 fps
    (tmp_path / "empty").mkdir()
    cfg = PreprocessConfig(wav2vec_dir=tmp_path / "empty")
    row = preprocess_clip(Clip("x", face_video, None, "test"), tmp_path / "x", cfg)
    assert row["status"] == "ok" and row["wav2vec"].startswith("unavailable (") and "empty" in row["wav2vec"]
    assert ClipData.load(tmp_path / "x").wav2vec is None
