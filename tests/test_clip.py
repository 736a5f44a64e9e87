"""The clip cache: ClipData save/load round trip, status handling and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stsa.data.clip import ClipData, read_status, write_status
from stsa.errors import DatasetError


def _data(t: int = 7, w2v: bool = True) -> ClipData:
    rng = np.random.default_rng(0)
    return ClipData(crops=rng.integers(0, 256, (t, 128, 128, 3), dtype=np.uint8),
                    boxes=rng.integers(0, 200, (t, 4)).astype(np.int64),
                    landmarks=rng.uniform(0, 1, (t, 131, 2)), detected=rng.uniform(size=t) > 0.3,
                    mel=rng.standard_normal((80, 3 * t + 1)),
                    wav2vec=rng.standard_normal((2 * t, 768)) if w2v else None)


def test_round_trip(tmp_path: Path) -> None:
    src = _data()
    src.save(tmp_path)
    write_status(tmp_path, {"clip": "a/1", "status": "ok", "reason": ""})
    d = ClipData.load(tmp_path)
    assert d.n_frames == 7 and d.status["clip"] == "a/1"
    assert d.video_path == tmp_path / "video.mp4" and d.audio_path == tmp_path / "audio.wav"
    np.testing.assert_array_equal(d.crops, src.crops)
    np.testing.assert_array_equal(d.boxes, src.boxes)
    np.testing.assert_array_equal(d.detected, src.detected)
    assert (d.boxes.dtype, d.landmarks.dtype, d.mel.dtype, d.wav2vec.dtype) == (
        np.int32, np.float32, np.float32, np.float32)  # landmarks and features as the model is fed: no float16
    np.testing.assert_array_equal(d.landmarks, src.landmarks.astype(np.float32))
    np.testing.assert_array_equal(d.wav2vec, src.wav2vec.astype(np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.npz", "status.json"]  # no temp files left

    _data(w2v=False).save(tmp_path / "b")
    write_status(tmp_path / "b", {"status": "ok"})
    assert ClipData.load(tmp_path / "b").wav2vec is None


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="stsa-bench preprocess"):
        ClipData.load(tmp_path / "never")
    write_status(tmp_path / "r", {"status": "rejected", "reason": "x.mp4: no face found in any frame"})
    with pytest.raises(DatasetError, match="rejected in preprocessing: x.mp4: no face"):
        ClipData.load(tmp_path / "r")
    write_status(tmp_path / "m", {"status": "ok"})
    with pytest.raises(DatasetError, match="clip.npz"):
        ClipData.load(tmp_path / "m")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "status.json").write_text("{not json")
    with pytest.raises(DatasetError, match="corrupt status file"):
        read_status(tmp_path / "c")
    with pytest.raises(DatasetError, match="not bound"):
        _ = _data().video_path
