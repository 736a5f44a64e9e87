"""LipLMD on real face crops: identical crops give 0, a known translation gives its normalised size, and failed
detections are counted, not dropped silently."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.liplmd import LipLMD, liplmd


def test_liplmd_arithmetic():
    gt = np.zeros((3, 40, 2), np.float32)
    pred = gt.copy()
    pred[..., 0] += 0.03
    pred[..., 1] += 0.04
    found = np.array([True, True, False])
    value, failed = liplmd(pred, gt, found, np.ones(3, bool))
    assert value == pytest.approx(0.05) and failed == 1
    assert np.isnan(liplmd(pred, gt, np.zeros(3, bool), found)[0])


@pytest.fixture(scope="module")
def crops(real_clips):
    import cv2

    from stsa.data.video import read_frames

    frames = read_frames(real_clips / "00002.mp4")[:4]  # 224x224 aligned faces
    return np.stack([cv2.resize(f[40:200, 32:192], (128, 128)) for f in frames])


def test_identical_and_shifted(crops):
    from metrics import facemesh_pool

    metric = LipLMD(workers=0)
    try:
        assert metric.update(crops, crops) == {"LipLMD": pytest.approx(0.0, abs=1e-7), "liplmd_failed_frames": 0}
        shifted = np.zeros_like(crops)
        shifted[:, :, 5:] = crops[:, :, :-5]  # content moved 5 px right
        value = metric.update(shifted, crops)["LipLMD"]
        assert value == pytest.approx(5 / 128, rel=0.3)
        blank = crops.copy()
        blank[1] = 0  # no face in one frame
        assert metric.update(blank, crops)["liplmd_failed_frames"] == 1
        total = metric.compute()
        assert total["liplmd_failed_frames"] == 1
        assert total["LipLMD"] == pytest.approx(np.mean([v["LipLMD"] for v in metric.values]))
    finally:
        facemesh_pool.close_all()
