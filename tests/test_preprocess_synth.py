"""End to end: the demo corpus generator's LRS2 and CMLR layouts through the readers and preprocessing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from stsa.data.clip import ClipData
from stsa.data.datasets import open_dataset
from stsa.data.preprocess import preprocess_dataset
from stsa.data.synth import generate_corpus


@pytest.mark.parametrize("layout", ["lrs2", "cmlr"])
def test_synthetic_corpus_end_to_end(tmp_path: Path, layout: str) -> None:
    ids = generate_corpus(tmp_path / "corpus", layout, n_train=0, n_val=0, n_test=2, seconds=1.2, seed=0)
    assert len(ids["test"]) == 2
    clips = open_dataset(layout, tmp_path / "corpus").clips("test")
    assert [c.clip_id for c in clips] == ids["test"]
    assert all(c.video.is_file() for c in clips)
    assert all((c.audio is None) == (layout == "lrs2") for c in clips)  # CMLR: separate wav files

    df = preprocess_dataset(layout, tmp_path / "corpus", tmp_path / "pre", "test")
    assert list(df["status"]) == ["ok", "ok"], list(df["reason"])
    manifest = pd.read_csv(tmp_path / "pre" / "manifest.csv", dtype={"clip": str})
    assert list(manifest["clip"]) == ids["test"] and set(manifest["split"]) == {"test"}
    for cid in ids["test"]:
        d = ClipData.load(tmp_path / "pre" / cid)
        assert d.n_frames == 30 and d.detected.mean() >= 0.9
        assert d.crops.shape == (30, 128, 128, 3) and d.crops.std() > 5  # a real image, not blank
        assert d.landmarks.min() >= 0 and d.landmarks.max() <= 1
        assert np.ptp(d.landmarks[..., 1].astype(np.float32)) > 0.5  # landmarks span the crop
        assert sf.info(str(d.audio_path)).frames == 30 * 640
        assert d.mel.shape == (80, 30 * 640 // 200 + 1) and d.mel.std() > 0.1  # speech, not silence
