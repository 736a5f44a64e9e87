"""The evaluator's speed-ups change no value: FaceMesh in worker processes gives the in-process detector's points,
parallel evaluation gives the serial rows and the per-frame reference loop's LipLMD, the OpenCV SSIM equals
skimage, the integer PSNR equals skimage."""

from __future__ import annotations

import numpy as np
import pytest
from metrics_data import save_clip
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from metrics import facemesh_pool
from metrics.psnr import psnr_frames
from metrics.ssim import ssim_frames_cpu, ssim_tensor


@pytest.fixture(scope="module")
def face_frames(real_clips):
    """(12, 224, 224, 3) real face frames, their 128x128 crops with one blank (no face) frame, and the boxes."""
    from stsa.data.crops import crop_faces
    from stsa.data.video import read_frames

    frames = read_frames(real_clips / "00002.mp4")[:12]
    boxes = np.tile(np.array([[32, 40, 192, 200]], np.int32), (len(frames), 1))
    crops = crop_faces(frames, boxes)
    crops[5] = 0
    return frames, crops, boxes


def test_pool_equals_in_process_detector(face_frames):
    from metrics.liplmd import PAD
    from stsa.data.facemesh import FaceMeshDetector

    _, crops, _ = face_frames
    with FaceMeshDetector(pad=PAD) as det:
        ref_pts, ref_found = det.detect_many(crops)
    pool = facemesh_pool.FaceMeshPool(2, PAD, chunk=5)  # uneven chunks over two workers
    try:
        jobs = [pool.submit(crops), pool.submit(crops[::-1])]
        (pts, found), (pts_r, found_r) = (j.result() for j in jobs)
        empty_pts, empty_found = pool.submit(crops[:0]).result()
    finally:
        pool.close()
    assert not ref_found[5] and ref_found.sum() == 11
    np.testing.assert_array_equal(found, ref_found)
    np.testing.assert_array_equal(pts, ref_pts)  # bit-identical, NaN where missed
    np.testing.assert_array_equal(pts_r, ref_pts[::-1])
    assert found_r.tolist() == ref_found[::-1].tolist()
    assert empty_pts.shape == (0, facemesh_pool.N_MESH, 2) and empty_found.shape == (0,)


def test_dead_worker_is_reported_and_replaced():
    pool = facemesh_pool.detector_for(1, 0.125)
    try:
        pool._all[0].proc.kill()
        pool._all[0].proc.wait()
        with pytest.raises(RuntimeError, match="FaceMesh worker exited"):
            pool.detect_many(np.zeros((2, 64, 64, 3), np.uint8))
        fresh = facemesh_pool.detector_for(1, 0.125)
        assert fresh is not pool and fresh.alive()
        assert not fresh.detect_many(np.zeros((2, 64, 64, 3), np.uint8))[1].any()
    finally:
        facemesh_pool.close_all()


@pytest.fixture(scope="module")
def face_dataset(face_frames, tmp_path_factory):
    """Two GT clips of real faces and predictions = shifted, noisy copies (as benchmarks/metrics.py)."""
    from stsa.data.crops import crop_faces
    from stsa.data.video import read_frames, write_video

    frames, _, boxes = face_frames
    root, pred = tmp_path_factory.mktemp("gt"), tmp_path_factory.mktemp("pred")
    rng = np.random.default_rng(0)
    for i, cid in enumerate(["a", "b"]):
        src = frames[i:i + 10]
        write_video(root / cid / "video.mp4", src)
        decoded = read_frames(root / cid / "video.mp4")
        save_clip(root / cid, crop_faces(decoded, boxes[:10]), boxes[:10])
        moved = np.roll(decoded, 2 + i, axis=2).astype(int) + rng.integers(-6, 7, decoded.shape)
        write_video(pred / f"{cid}.mp4", np.clip(moved, 0, 255).astype(np.uint8))
    return root, pred


def test_parallel_rows_equal_serial_rows_and_reference(face_dataset, tmp_path):
    from metrics.evaluator import evaluate_method
    from stsa.data.crops import crop_faces
    from stsa.data.facemesh import FaceMeshDetector
    from stsa.data.landmarks import LIP, MESH_IDS
    from stsa.data.video import read_frames

    pd_testing = pytest.importorskip("pandas.testing")
    root, pred = face_dataset
    metrics = ["psnr", "ssim", "liplmd", "dme_dis"]
    runs = {}
    for workers in (0, 2):
        df, agg = evaluate_method(root, pred, ["a", "b"], "m", "d", metrics, device="cpu",
                                  cache_dir=tmp_path / f"c{workers}", options={"workers": workers})
        df_cached, _ = evaluate_method(root, pred, ["a", "b"], "m", "d", metrics, device="cpu",
                                       cache_dir=tmp_path / f"c{workers}", options={"workers": workers})
        pd_testing.assert_frame_equal(df, df_cached)
        runs[workers] = df
    pd_testing.assert_frame_equal(runs[0], runs[2])
    lip_ids = [MESH_IDS[i] for i in LIP]
    with FaceMeshDetector(pad=0.25) as det:  # the reference loop: FaceMesh per frame on prediction and GT
        for i, cid in enumerate(["a", "b"]):
            z = np.load(root / cid / "clip.npz")
            p = crop_faces(read_frames(pred / f"{cid}.mp4"), z["boxes"])
            d = [np.linalg.norm((a[lip_ids] - b[lip_ids]).astype(np.float64) / 128, axis=1).mean()
                 for a, b in ((det.detect(x), det.detect(y)) for x, y in zip(p, z["crops"], strict=True))
                 if a is not None and b is not None]
            assert runs[2].loc[i, "LipLMD"] == pytest.approx(np.mean(d), abs=1e-9)
    assert runs[2]["LipLMD"].notna().all()
    facemesh_pool.close_all()


def _sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(a / 255.0, b / 255.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1.0, channel_axis=-1)


@pytest.mark.parametrize("shape", [(4, 128, 128, 3), (3, 37, 50, 3), (2, 11, 16, 3)])
def test_opencv_ssim_equals_skimage_and_torch(shape):
    rng = np.random.default_rng(shape[1])
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-50, 51, shape), 0, 255).astype(np.uint8)
    ours = ssim_frames_cpu(a, b)
    np.testing.assert_allclose(ours, [_sk_ssim(x, y) for x, y in zip(a, b, strict=True)], rtol=0, atol=1e-12)
    import torch

    t = ssim_tensor(torch.from_numpy(a).permute(0, 3, 1, 2).double() / 255,
                    torch.from_numpy(b).permute(0, 3, 1, 2).double() / 255).numpy()
    np.testing.assert_allclose(ours, t, rtol=0, atol=1e-12)


def test_opencv_ssim_equals_skimage_on_real_crops(face_frames):
    _, crops, _ = face_frames
    moved = np.roll(crops, 3, axis=1)
    np.testing.assert_allclose(ssim_frames_cpu(moved, crops),
                               [_sk_ssim(x, y) for x, y in zip(moved, crops, strict=True)], rtol=0, atol=1e-12)


def test_integer_psnr_equals_skimage_and_float_path():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (5, 40, 30, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    b[2] = a[2]
    ours = psnr_frames(a, b)
    ref = [peak_signal_noise_ratio(x / 255.0, y / 255.0, data_range=1.0) if not np.array_equal(x, y) else 100.0
           for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(psnr_frames(a.astype(np.float32), b.astype(np.float32)), ours, rtol=0, atol=1e-9)


def test_cli_workers_flag():
    import argparse

    from metrics import evaluator

    parser = argparse.ArgumentParser()
    evaluator.register(parser.add_subparsers(dest="command"))
    base = ["evaluate", "--gt", "g", "--pred", "p", "--out", "o.csv"]
    assert parser.parse_args(base).workers is None
    assert parser.parse_args([*base, "--workers", "0"]).workers == 0
    assert facemesh_pool.default_workers() >= 1
