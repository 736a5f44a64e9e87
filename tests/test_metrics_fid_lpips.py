"""FID and LPIPS equal pytorch-fid's and lpips' own computations with identical (random, test-written) weights.

Random weights only check that our loading and arithmetic match the references; they give no real scores.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
import yaml
from metrics_data import fid_inception_state

from stsa import weights


def _register(tmp_path: Path, monkeypatch, files: dict[str, Path]) -> None:
    """Manifest copy listing the test files' real hashes (so verification still runs)."""
    data = yaml.safe_load(weights.MANIFEST.read_text())
    for name, path in files.items():
        data["weights"][name]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("STSA_BENCH_WEIGHTS_MANIFEST", str(tmp_path / "manifest.yaml"))


def _frames(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 128, 128, 3), dtype=np.uint8)


def test_fid_equals_pytorch_fid(wdir, tmp_path, monkeypatch):
    from PIL import Image
    from pytorch_fid import fid_score, inception

    from metrics.fid import FID, statistics

    pred, gt = _frames(1, 3), _frames(2, 2)  # few frames: Inception at 299 px is slow on a shared CPU
    gt[:1] = pred[:1]
    state = fid_inception_state(np.concatenate([pred, gt]))  # calibrated BatchNorm: features that differ
    path = wdir / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, path)
    _register(tmp_path, monkeypatch, {"pt_inception": path})

    metric = FID()
    assert metric.update(pred[:2], gt[:1]) == {}  # a dataset metric: no per-video value
    metric.update(pred[2:], gt[1:])
    ours_pred, ours_gt = np.concatenate(metric.pred), np.concatenate(metric.gt)

    # reference: pytorch-fid's own pipeline on PNG files (lossless) with its InceptionV3 and the same weights
    dirs = []
    for tag, frames in (("pred", pred), ("gt", gt)):
        d = tmp_path / tag
        d.mkdir()
        for i, f in enumerate(frames):
            Image.fromarray(f).save(d / f"{i:03d}.png")
        dirs.append(sorted(d.glob("*.png")))
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state):
        model = inception.InceptionV3([3]).eval()
    ref = [fid_score.calculate_activation_statistics(d, model, batch_size=3, num_workers=0) for d in dirs]
    assert np.abs(ref[0][0] - ref[1][0]).mean() > 1e-2  # non-degenerate: the two sets' features differ
    for (mu, sigma), feats in zip(ref, (ours_pred, ours_gt), strict=True):
        ours_mu, ours_sigma = statistics(feats)
        np.testing.assert_allclose(ours_mu, mu, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours_sigma, sigma, rtol=1e-5, atol=1e-7)
    # the distance on 2048-d statistics (~15 s of eigh on a shared CPU) is checked at 64-d below


@pytest.mark.parametrize("n", [10, 200])
def test_frechet_distance_equals_pytorch_fid(n):
    """Same value as pytorch-fid's sqrtm-based distance (64-d here: scipy's sqrtm at 2048-d takes a minute),
    on rank-deficient (n=10) and full-rank (n=200) covariances."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    from metrics.fid import fid_from_features, frechet_distance, statistics

    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, 64))
    b = 0.5 * rng.standard_normal((n, 64)) @ rng.standard_normal((64, 64)) * 0.3 + 0.2
    ref = calculate_frechet_distance(*statistics(a), *statistics(b))
    assert fid_from_features(a, b) == pytest.approx(ref, rel=1e-6, abs=1e-6)
    assert frechet_distance(*statistics(a), *statistics(a)) == pytest.approx(0.0, abs=1e-4)
    assert np.isnan(fid_from_features(a[:1], b))


def test_lpips_equals_lpips_package(wdir, tmp_path, monkeypatch):
    import lpips
    import torchvision

    from metrics.lpips_metric import LPIPS

    torch.manual_seed(0)
    state = torchvision.models.alexnet(weights=None).state_dict()
    path = wdir / "alexnet-owt-7be5be79.pth"
    torch.save(state, path)
    _register(tmp_path, monkeypatch, {"alexnet": path})
    # reference: lpips.LPIPS(net='alex') building its backbone through torchvision, which finds the same file in
    # the torch hub cache (no download: the file is there)
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / path.name).write_bytes(path.read_bytes())
    ref_model = lpips.LPIPS(net="alex", verbose=False).eval()

    pred, gt = _frames(3, 5), _frames(4, 5)
    metric = LPIPS()
    ours = metric.update(pred, gt)["LPIPS"]
    with torch.no_grad():
        ref = ref_model(torch.from_numpy(pred).permute(0, 3, 1, 2).float() / 255,
                        torch.from_numpy(gt).permute(0, 3, 1, 2).float() / 255, normalize=True).flatten()
    assert ours == pytest.approx(float(ref.double().mean()), abs=1e-6)
    assert metric.update(gt, gt)["LPIPS"] == pytest.approx(0.0, abs=1e-7)


def test_missing_backbone_is_an_error_not_random(wdir, monkeypatch):
    from metrics.lpips_metric import build_lpips
    from stsa.errors import WeightsError

    monkeypatch.delenv("STSA_BENCH_WEIGHTS_MANIFEST", raising=False)
    with pytest.raises(WeightsError, match="alexnet"):
        build_lpips()
