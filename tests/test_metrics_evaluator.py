"""evaluate_method end to end on a synthetic preprocessed dataset, checked against skimage; the registry-driven
loop (unknown metrics/options, missing and corrupt weights, per-video failures) and strict JSON."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metrics_data import make_gt
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from metrics.evaluator import evaluate_method
from stsa.data.crops import crop_faces
from stsa.data.video import read_frames, write_video


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("gt")
    pred = tmp_path_factory.mktemp("pred")
    ids = ["spk/00001", "spk/00002", "x3", "x4"]
    frames = {cid: make_gt(root, cid, n=10, seed=i) for i, cid in enumerate(ids)}
    rng = np.random.default_rng(5)
    f1 = frames["spk/00001"].astype(int)
    noisy = np.clip(f1 + rng.integers(-20, 21, f1.shape), 0, 255)
    write_video(pred / "spk/00001.mp4", noisy.astype(np.uint8))
    write_video(pred / "spk/00002.mp4", frames["spk/00002"][:8])  # shorter output
    (pred / "x3.mp4").write_bytes(b"not a video")  # corrupt
    return root, pred


def test_psnr_ssim_rows_match_skimage(dataset, tmp_path):
    root, pred = dataset
    df, agg = evaluate_method(root, pred, ["spk/00001", "spk/00002", "x3", "x4"], "m", "d",
                              ["psnr", "ssim"], device="cpu", cache_dir=tmp_path)
    assert list(df["status"]) == ["ok", "ok", "failed", "failed"]
    assert "corrupt" in df.loc[2, "notes"] or "decod" in df.loc[2, "notes"]
    assert "prediction missing" in df.loc[3, "notes"]
    df2, _ = evaluate_method(root, pred, ["nogt"], "m", "d", ["psnr"], device="cpu")
    assert df2.loc[0, "status"] == "failed" and "not preprocessed" in df2.loc[0, "notes"]  # ClipData.load's error
    assert df.loc[1, "n_frames"] == 8 and "frame count" in df.loc[1, "notes"]
    for i, cid in enumerate(["spk/00001", "spk/00002"]):
        z = np.load(root / cid / "clip.npz")
        p = read_frames(pred / f"{cid}.mp4")
        pc = crop_faces(p, z["boxes"][:len(p)]).astype(np.float64) / 255
        gc = z["crops"][:len(p)].astype(np.float64) / 255
        ps = np.mean([min(peak_signal_noise_ratio(g, x, data_range=1), 100.0) for g, x in zip(gc, pc, strict=True)])
        ss = np.mean([structural_similarity(g, x, gaussian_weights=True, sigma=1.5,
                                            use_sample_covariance=False, data_range=1, channel_axis=-1)
                      for g, x in zip(gc, pc, strict=True)])
        assert df.loc[i, "PSNR"] == pytest.approx(ps, abs=1e-9)
        assert df.loc[i, "SSIM"] == pytest.approx(ss, abs=1e-9)
    assert agg["PSNR"] == pytest.approx(df["PSNR"][:2].mean())
    assert agg["n_ok"] == 2 and agg["unavailable"] == {} and agg["weights"] == {} and agg["settings"] == {}


def test_gt_against_itself_is_perfect(dataset, tmp_path):
    """Identical frames: PSNR capped at 100 dB per frame (the lineage's convention), never inf; strict JSON."""
    from metrics.evaluator import dumps_strict

    root, _ = dataset
    gt_pred = tmp_path / "gt_as_pred"
    (gt_pred / "spk").mkdir(parents=True)
    (gt_pred / "spk/00001.mp4").symlink_to(root / "spk/00001/video.mp4")
    df, agg = evaluate_method(root, gt_pred, ["spk/00001"], "GT", "d", ["psnr", "ssim"], device="cpu")
    assert df.loc[0, "PSNR"] == 100.0 and agg["PSNR"] == 100.0 and df.loc[0, "SSIM"] == pytest.approx(1.0)
    text = dumps_strict({**agg, "x": [math.inf, math.nan, np.float32(2.5)]})
    assert "Infinity" not in text and "NaN" not in text and '"x": [null, null, 2.5]' in text


def test_unknown_metric_or_option_rejected(dataset):
    root, pred = dataset
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate_method(root, pred, ["x3"], "m", "d", ["nope"])
    with pytest.raises(ValueError, match="unknown metric options"):
        evaluate_method(root, pred, ["x3"], "m", "d", ["psnr"], options={"lse_pipeline": "full"})
    with pytest.raises(ValueError, match="lse_protocol"):
        evaluate_method(root, pred, ["x3"], "m", "d", ["psnr"], options={"lse_protocol": "whole"})


def test_metric_failing_on_one_video_is_a_note(dataset, monkeypatch):
    """An engine raising on one video: NaN and a note for that metric in that row; the other metrics and the
    other videos go on, and the aggregate leaves the video out."""
    from metrics.ssim import SSIM

    root, pred = dataset
    real = SSIM.video

    def flaky(self, p, gt, path=None):
        if gt.clip_id == "spk/00002":
            raise RuntimeError("boom")
        return real(self, p, gt, path)

    monkeypatch.setattr(SSIM, "video", flaky)
    df, agg = evaluate_method(root, pred, ["spk/00001", "spk/00002"], "m", "d", ["psnr", "ssim"], device="cpu")
    assert list(df["status"]) == ["ok", "ok"] and df["PSNR"].notna().all()
    assert np.isnan(df.loc[1, "SSIM"]) and "ssim: RuntimeError: boom" in df.loc[1, "notes"]
    assert agg["SSIM"] == pytest.approx(df.loc[0, "SSIM"])


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("STSA_BENCH_WEIGHTS_MANIFEST", raising=False)


def test_missing_weights_give_nan_and_reason(dataset, no_weights):
    root, pred = dataset
    df, agg = evaluate_method(root, pred, ["spk/00001"], "m", "d", ["psnr", "lpips", "fid", "lse", "dme"],
                              device="cpu")
    assert np.isfinite(df.loc[0, "PSNR"])
    for col in ("LPIPS", "LSE-D", "LSE-C", "DME"):
        assert np.isnan(df.loc[0, col]) and np.isnan(agg[col])
    assert np.isnan(agg["FID"]) and "FID" not in df  # a dataset metric has no per-video column
    assert agg["weights"] == {}  # nothing was loaded
    assert set(agg["unavailable"]) == {"lpips", "fid", "lse", "dme"}
    assert "alexnet" in agg["unavailable"]["lpips"] and "not found" in agg["unavailable"]["lpips"]
    assert "syncnet_v2" in agg["unavailable"]["lse"]
    assert "lpips unavailable" in df.loc[0, "notes"]


def test_corrupt_weights_give_checksum_error(dataset, tmp_path, monkeypatch):
    import yaml

    from stsa import weights

    root, pred = dataset
    wdir = tmp_path / "w"
    wdir.mkdir()
    (wdir / "syncnet_v2.model").write_bytes(b"truncated download")
    data = yaml.safe_load(weights.MANIFEST.read_text())
    data["weights"]["syncnet_v2"]["sha256"] = "0" * 64
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(wdir))
    monkeypatch.setenv("STSA_BENCH_WEIGHTS_MANIFEST", str(tmp_path / "m.yaml"))
    df, agg = evaluate_method(root, pred, ["spk/00001"], "m", "d", ["lse"], device="cpu")
    assert "checksum mismatch" in agg["unavailable"]["lse"] and np.isnan(df.loc[0, "LSE-D"])


def test_weight_free_metrics_and_cache(dataset, tmp_path, no_weights):
    """GT against itself: DME[dis] 0; textures without faces: LipLMD NaN with every frame counted as failed;
    a second run reads the cached GT features and gives identical rows."""
    root, _ = dataset
    gt_pred = tmp_path / "gt_as_pred"
    gt_pred.mkdir()
    (gt_pred / "x4.mp4").symlink_to(root / "x4/video.mp4")
    cache = tmp_path / "cache"
    df, agg = evaluate_method(root, gt_pred, ["x4"], "GT", "d", ["dme_dis", "liplmd"], device="cpu",
                              cache_dir=cache)
    assert df.loc[0, "DME[dis]"] == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(df.loc[0, "LipLMD"]) and df.loc[0, "liplmd_failed_frames"] == 10
    assert agg["liplmd_failed_frames"] == 10
    assert len(list((cache / "d" / "flow_dis").glob("*.npz"))) == 1
    assert len(list((cache / "d" / "liplmd").glob("*.npz"))) == 1
    df2, _ = evaluate_method(root, gt_pred, ["x4"], "GT", "d", ["dme_dis", "liplmd"], device="cpu",
                             cache_dir=cache)
    pd_testing = pytest.importorskip("pandas.testing")
    pd_testing.assert_frame_equal(df, df2)


def test_full_lse_pipeline_needs_s3fd(dataset, no_weights):
    root, pred = dataset
    df, agg = evaluate_method(root, pred, ["spk/00001"], "m", "d", ["lse"], device="cpu",
                              options={"lse_protocol": "full"})
    assert "sfd_face" in agg["unavailable"]["lse"] and np.isnan(df.loc[0, "LSE-C"])
