"""PSNR/SSIM equal skimage per frame (atol 1e-9) on random and real frames; cross-checked with piq/torchmetrics.
Identical frames: PSNR 100 dB (the lineage's cap, TalkLip's visual_quality.py) where skimage gives inf."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from metrics.psnr import PSNR, psnr_frames
from metrics.ssim import SSIM, ssim_frames

ATOL = 1e-9


def _sk_ssim(a, b):
    return structural_similarity(a / 255.0, b / 255.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1.0, channel_axis=-1)


def _pairs(seed=0, n=5, size=128):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    return a, b


def test_random_frames_equal_skimage():
    a, b = _pairs()
    ours_s, ours_p = ssim_frames(a, b), psnr_frames(a, b)
    ref_s = [_sk_ssim(x, y) for x, y in zip(a, b, strict=True)]
    ref_p = [peak_signal_noise_ratio(y / 255.0, x / 255.0, data_range=1.0) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(ours_s, ref_s, rtol=0, atol=ATOL)
    np.testing.assert_allclose(ours_p, ref_p, rtol=0, atol=ATOL)


def test_real_frames_equal_skimage(real_clips):
    from stsa.data.video import read_frames

    frames = read_frames(real_clips / "00002.mp4")[:6]
    h, w = frames.shape[1:3]
    crops = frames[:, h // 4:h // 4 + 128, w // 4:w // 4 + 128]
    a, b = crops[1:], crops[:-1]  # consecutive frames: realistic small differences
    np.testing.assert_allclose(ssim_frames(a, b), [_sk_ssim(x, y) for x, y in zip(a, b, strict=True)],
                               rtol=0, atol=ATOL)


def test_identical_frames():
    """One identical frame scores 100 dB (skimage: inf) and no longer makes the video's PSNR inf; a near-identical
    frame (one grey level at one pixel: the smallest error there is) stays below the cap."""
    a, b = _pairs(n=3)
    with np.errstate(divide="ignore"):
        assert np.isinf(peak_signal_noise_ratio(a[0] / 255.0, a[0] / 255.0, data_range=1.0))
    np.testing.assert_array_equal(psnr_frames(a, a), 100.0)
    b[1] = a[1]
    values = psnr_frames(a, b)
    assert values[1] == 100.0 and np.isfinite(PSNR().update(a, b)["PSNR"])
    np.testing.assert_allclose(values[[0, 2]], [peak_signal_noise_ratio(y / 255.0, x / 255.0, data_range=1.0)
                                                for x, y in zip(a[[0, 2]], b[[0, 2]], strict=True)], atol=ATOL)
    c = a[:1].copy()
    c[0, 0, 0, 0] ^= 1
    smallest_error = psnr_frames(a[:1], c)[0]  # the largest finite PSNR at 128x128x3: 95.1 dB
    assert smallest_error == pytest.approx(10 * math.log10(255**2 * c[0].size), abs=1e-9) and smallest_error < 100
    np.testing.assert_allclose(ssim_frames(a, a), 1.0, atol=1e-12)


def test_integer_subtraction_is_not_used():
    """uint8 wrap-around (a known bug in some evaluation scripts) would give a different value."""
    a = np.full((1, 16, 16, 3), 10, np.uint8)
    b = np.full((1, 16, 16, 3), 20, np.uint8)
    assert psnr_frames(a, b)[0] == pytest.approx(10 * math.log10(1 / (10 / 255) ** 2))


def test_piq_and_torchmetrics_agree():
    piq = pytest.importorskip("piq")
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    a, b = _pairs(seed=1, n=3)
    x = torch.from_numpy(a).permute(0, 3, 1, 2).double() / 255
    y = torch.from_numpy(b).permute(0, 3, 1, 2).double() / 255
    ours = ssim_frames(a, b)
    # piq: Gaussian 11/1.5, valid conv, mean over map and channels = the same definition
    ref_piq = piq.ssim(x, y, data_range=1.0, reduction="none", downsample=False).numpy()
    np.testing.assert_allclose(ours, ref_piq, atol=1e-6)
    # torchmetrics pads ('reflect') instead of cropping, so it differs slightly; same window otherwise
    ref_tm = tm_ssim(x, y, data_range=1.0, reduction="none").numpy()
    np.testing.assert_allclose(ours, ref_tm, atol=2e-2)


def test_engines_average_over_videos():
    a, b = _pairs(n=3)
    m, s = PSNR(), SSIM()
    assert m.update(a, b) == {"PSNR": pytest.approx(psnr_frames(a, b).mean())}
    m.update(a[:1], b[:1])
    s.update(a, b)
    assert m.compute()["PSNR"] == pytest.approx((psnr_frames(a, b).mean() + psnr_frames(a[:1], b[:1])[0]) / 2)
    assert s.compute()["SSIM"] == pytest.approx(ssim_frames(a, b).mean())
    m.reset()
    assert math.isnan(m.compute()["PSNR"])
