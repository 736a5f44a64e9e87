"""LSE-D/LSE-C equal syncnet-python's ``SyncNetInstance.evaluate`` with identical (random, test-written) weights.

Random weights only check that our batching and arithmetic match the reference; they give no real scores.
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

from metrics.inputs import GroundTruth
from stsa import weights


@pytest.fixture
def syncnet_file(tmp_path, monkeypatch):
    from syncnet_python.SyncNetModel import S

    torch.manual_seed(0)
    net = S()
    for m in net.modules():  # non-trivial BatchNorm statistics, so eval-mode BN is exercised
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    d = tmp_path / "weights"
    d.mkdir()
    path = d / "syncnet_v2.model"
    torch.save(net.state_dict(), path)
    data = yaml.safe_load(weights.MANIFEST.read_text())
    data["weights"]["syncnet_v2"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(d))
    monkeypatch.setenv("STSA_BENCH_WEIGHTS_MANIFEST", str(tmp_path / "manifest.yaml"))
    return path


def _reference(tmp_dir, path, batch_size=7):
    from syncnet_python.SyncNetInstance import SyncNetInstance
    from syncnet_python.SyncNetModel import S

    net = S()
    inst = SyncNetInstance(net=net, device="cpu")
    inst.loadParameters(str(path))
    return inst.evaluate(SimpleNamespace(tmp_dir=str(tmp_dir), batch_size=batch_size, vshift=15))


def test_equals_syncnet_python_evaluate(syncnet_file, tmp_path):
    import cv2
    from scipy.io import wavfile

    from metrics.lse import LSE

    rng = np.random.default_rng(1)
    n = 14
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    base = rng.integers(0, 256, (n, 28, 28, 3), dtype=np.uint8)
    for i in range(n):
        cv2.imwrite(str(frames_dir / f"{i:06d}.jpg"), cv2.resize(base[i], (224, 224)))
    audio = (3000 * rng.standard_normal(n * 640 + 123)).astype(np.int16)
    wavfile.write(frames_dir / "audio.wav", 16000, audio)

    offset, conf, dist = _reference(frames_dir, syncnet_file)
    # the same decoded frames (BGR on disk -> RGB for our API, which turns them back to BGR), same audio
    bgr = np.stack([cv2.imread(str(p)) for p in sorted(frames_dir.glob("*.jpg"))])
    metric = LSE()
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    ours = metric.update(rgb, GroundTruth(rgb, audio=audio))
    assert ours["LSE-D"] == pytest.approx(dist, rel=1e-4, abs=1e-4)
    assert ours["LSE-C"] == pytest.approx(conf, rel=1e-4, abs=1e-4)
    assert ours["LSE_offset"] == offset
    assert metric.compute()["LSE-D"] == pytest.approx(dist, rel=1e-4)
    # chunked passes (overlapping by 4 frames) give the same window embeddings
    from metrics.lse import lip_embeddings

    whole = lip_embeddings(metric.net, bgr, n - 5, chunk=64)
    torch.testing.assert_close(lip_embeddings(metric.net, bgr, n - 5, chunk=4), whole, rtol=1e-4, atol=1e-4)


def test_short_video_is_nan(syncnet_file):
    from metrics.lse import LSE

    crops = np.zeros((5, 128, 128, 3), np.uint8)
    out = LSE().update(crops, GroundTruth(crops, audio=np.zeros(16000, np.int16)))
    assert np.isnan(out["LSE-D"]) and np.isnan(out["LSE-C"])


def test_offset_distances_match_loop():
    """The vectorised distances equal syncnet-python's calc_pdist loop."""
    from syncnet_python.SyncNetInstance import calc_pdist

    from metrics.lse import offset_distances

    torch.manual_seed(0)
    a, b = torch.randn(9, 16), torch.randn(9, 16)
    ref = torch.stack(calc_pdist(a, b, vshift=15))  # (n, 31)
    torch.testing.assert_close(offset_distances(a, b), ref, rtol=1e-6, atol=1e-6)
