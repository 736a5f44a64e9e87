"""Boundary heatmaps against a brute-force reference (per-edge cv2.line + scipy EDT + numpy exp) and hand cases."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt

from stsa.data.heatmaps import KINDS, line_masks, predicted_heatmap, render_heatmaps
from stsa.data.landmarks import HEATMAP_EDGES, N_LANDMARKS


def _reference(landmarks: np.ndarray, kind: str, size: int = 128, sigma: float = 1.0) -> np.ndarray:
    """One frame the slow way: mediapipe-style pixel rounding, one cv2.line per edge, exact EDT, numpy exp."""
    canvas = np.ones((size, size), np.uint8)
    px = [(min(max(math.floor(x * size), 0), size - 1), min(max(math.floor(y * size), 0), size - 1))
          for x, y in landmarks.astype(np.float64)]
    for a, b in HEATMAP_EDGES[kind]:
        cv2.line(canvas, px[a], px[b], 0, 1)
    d = distance_transform_edt(canvas)
    out = np.zeros((size, size), np.float64)
    near = d < 3 * sigma
    out[near] = np.exp(-d[near] ** 2 / (2 * sigma**2))
    return out


def _random_faces(t: int, seed: int = 0) -> np.ndarray:
    """Plausible landmark sets: a fixed random layout jittered per frame, inside [0, 1]."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.05, 0.95, (N_LANDMARKS, 2))
    return np.clip(base + rng.normal(0, 0.02, (t, N_LANDMARKS, 2)), 0, 1).astype(np.float32)


@pytest.mark.parametrize("kind", KINDS)
def test_matches_bruteforce_reference(kind: str) -> None:
    lms = _random_faces(6, seed=len(kind))
    lms[2, :5] = [[0.0, 0.0], [1.0, 1.0], [0.999, 0.0], [0.0, 1.0], [0.5, 1.0]]  # canvas borders
    precise = render_heatmaps(lms, kind, precise=True)
    release = render_heatmaps(lms, kind)  # 5x5 mask, as the release
    assert precise.shape == (6, 128, 128) and precise.dtype == np.float32
    for t in range(len(lms)):
        ref = _reference(lms[t], kind)
        np.testing.assert_allclose(precise[t], ref, atol=1e-5)
        np.testing.assert_allclose(release[t], ref, atol=0.05)  # chamfer approximation of the distance
        assert (release[t] == 1).sum() == (ref == 1).sum()


def test_frames_do_not_leak_into_each_other() -> None:
    lms = _random_faces(4, seed=3)
    lms[1] = 0.999  # frame 1: all points in the bottom-right pixel
    lms[2] = 0.0  # frame 2: all points in the top-left pixel
    batch = render_heatmaps(lms, "face", precise=True)
    for t in range(4):
        np.testing.assert_array_equal(batch[t], render_heatmaps(lms[t], "face", precise=True))
    assert batch[2][127].max() == 0 and batch[1][0].max() == 0


def test_hand_case_horizontal_line() -> None:
    """A single horizontal lip line at row 64: 1 on it, exp(-1/2) one pixel off, exp(-2) two off, 0 from 3 px."""
    lms = np.full((N_LANDMARKS, 2), 0.5, np.float32)
    a, b = HEATMAP_EDGES["lip"][0]
    lms[:, 1] = 64.5 / 128  # every point on row 64
    lms[:, 0] = 64.5 / 128
    lms[a] = [20.5 / 128, 64.5 / 128]
    lms[b] = [100.5 / 128, 64.5 / 128]
    for precise in (False, True):
        h = render_heatmaps(lms, "lip", precise=precise)
        assert np.all(h[64, 20:101] == 1)
        np.testing.assert_allclose(h[63, 30:90], math.exp(-0.5), rtol=1e-6)
        np.testing.assert_allclose(h[65, 30:90], math.exp(-0.5), rtol=1e-6)
        np.testing.assert_allclose(h[62, 30:90], math.exp(-2.0), rtol=1e-6)
        assert h[:62].max() == 0 and h[67:].max() == 0 and h[61, 64] == 0
        assert h[64, :17].max() == 0  # 3+ px left of the line's end


def test_line_mask_is_one_polyline_draw_per_segment() -> None:
    lms = _random_faces(2, seed=5)
    mask = line_masks(lms, "pose", 128, gap=4)
    assert mask.shape == (2 * 132, 128) and set(np.unique(mask)) == {0, 1}
    assert mask[128:132].min() == 1  # the gap rows stay background
    with pytest.raises(ValueError, match="unknown heatmap kind"):
        render_heatmaps(lms, "ear")


def test_sigma_scales_width() -> None:
    lms = _random_faces(1, seed=7)[0]
    h2 = render_heatmaps(lms, "face", sigma=2.0, precise=True)
    np.testing.assert_allclose(h2, _reference(lms, "face", sigma=2.0), atol=1e-5)
    assert (h2 > 0).sum() > (render_heatmaps(lms, "face", precise=True) > 0).sum()


def test_predicted_heatmap_sum_clipped() -> None:
    lms = _random_faces(3, seed=9)
    parts = [render_heatmaps(lms, k) for k in ("pose", "lip", "jaw")]
    pred = predicted_heatmap(*parts)
    np.testing.assert_allclose(pred, np.minimum(parts[0] + parts[1] + parts[2], 1.0))
    assert pred.max() <= 1.0 and (parts[0] + parts[1] + parts[2]).max() > 1.0
    tens = predicted_heatmap(*[torch.from_numpy(p) for p in parts])
    np.testing.assert_allclose(tens.numpy(), pred)
