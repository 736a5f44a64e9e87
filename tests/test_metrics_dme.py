"""DME: synthetic flows, identical motion ~0, a known integer shift (DIS), RAFT with random weights (shapes)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import yaml

from metrics.dme import DME, DMEDis, dme_from_flows, flows_dis
from stsa import weights


def _texture(size=128 + 40, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def _moving(n, dx, dy=0, seed=0):
    """n frames of 128x128 cut from a texture moving by (dx, dy) px per frame."""
    tex = _texture(seed=seed)
    return np.stack([tex[20 - i * dy:148 - i * dy, 20 - i * dx:148 - i * dx] for i in range(n)])


def test_dme_from_flows_exact():
    gt = np.zeros((2, 2, 4, 4), np.float32)
    gt[0, 0, :2] = 3.0  # first pair: top half moves 3 px right
    pred = np.zeros_like(gt)
    pred[0, 1, :2] = 4.0  # prediction moves it 4 px down instead -> EPE 5 on the moving pixels
    value, used = dme_from_flows(gt, pred)
    assert used == 1 and value == pytest.approx(5.0)  # the static second pair is left out
    assert np.isnan(dme_from_flows(np.zeros_like(gt), pred)[0])


def test_identical_motion_is_zero():
    frames = _moving(4, 2)
    assert DMEDis().update(frames, frames.copy())["DME[dis]"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("dx,dy", [(3, 0), (0, 2)])
def test_known_shift_gives_its_magnitude(dx, dy):
    gt = _moving(4, dx, dy)
    flows = flows_dis(gt)
    assert np.median(flows[:, 0]) == pytest.approx(dx, abs=0.1)
    assert np.median(flows[:, 1]) == pytest.approx(dy, abs=0.1)
    static = np.repeat(gt[:1], 4, axis=0)
    assert DMEDis().update(static, gt)["DME[dis]"] == pytest.approx(np.hypot(dx, dy), abs=0.25)


def test_table_value_pools_pairs_as_dyco():
    """Per video the mean over its pairs; compute() the mean over all pairs of all videos (Dyco's finalize), which
    differs from the mean of per-video means when videos have different lengths."""
    metric = DMEDis()
    long_gt, short_gt = _moving(6, 3), _moving(3, 0, 2, seed=1)
    long_v = metric.update(np.repeat(long_gt[:1], 6, axis=0), long_gt)["DME[dis]"]  # 5 pairs, ~3 px each
    short_v = metric.update(short_gt.copy(), short_gt)["DME[dis]"]  # 2 pairs, 0 each
    assert short_v == pytest.approx(0.0, abs=1e-9) and long_v > 2
    assert metric.compute()["DME[dis]"] == pytest.approx((5 * long_v + 2 * short_v) / 7)


def test_raft_random_weights_shapes(tmp_path, monkeypatch):
    """RAFT-large loads through stsa.weights and runs (its values equal an independent RAFT-DME computation in
    tests/test_metrics_reference.py)."""
    from torchvision.models.optical_flow import raft_large

    torch.manual_seed(0)
    path = tmp_path / "raft_large_C_T_V1-22a6c225.pth"
    torch.save(raft_large(weights=None).state_dict(), path)
    data = yaml.safe_load(weights.MANIFEST.read_text())
    data["weights"]["raft_large"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("STSA_BENCH_WEIGHTS_MANIFEST", str(tmp_path / "m.yaml"))
    metric = DME(raft_iters=2)  # few iterations: RAFT is slow on a shared CPU
    frames = _moving(3, 2)
    assert metric.flows(frames).shape == (2, 2, 128, 128)
    assert metric.settings() == {"raft_iters": 2}


def test_raft_missing_weights_raises(tmp_path, monkeypatch):
    from stsa.errors import WeightsError

    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("STSA_BENCH_WEIGHTS_MANIFEST", raising=False)
    with pytest.raises(WeightsError, match="raft_large"):
        DME()
