"""The evaluator's network metrics on the production path (``evaluate_method``: ClipData ground truth, predictions
decoded and cropped, weights resolved and verified through stsa.weights) equal their reference implementations with
identical seeded random weights, on real face clips preprocessed by ``stsa.data.preprocess``:

- FID = pytorch-fid (its InceptionV3, ``get_activations`` on lossless PNGs, ``calculate_frechet_distance``),
- LPIPS = ``lpips.LPIPS(net='alex')`` building its own backbone from the same file,
- LSE-D/C = syncnet-python's ``SyncNetInstance.evaluate`` on the frames of each protocol: the crops (resized to 224
  as Wav2Lip's script does) with the ground truth's audio, and Wav2Lip's ``calculate_scores_LRS.py`` input steps
  reproduced as a fixture (ffmpeg JPEG frames, resized to 224, the video's own audio),
- DME = an independent RAFT computation written here from torchvision's RAFT and Dyco's rule (``DME_util.py``).

Random weights check agreement only; they give no scores. Each comparison fails if the engine's input, frames or
arithmetic change (checked by perturbing each engine once by hand: see the metrics helper's report).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import torch
from metrics_data import random_weights, weights_env

from stsa.data.crops import crop_faces
from stsa.data.video import ffmpeg_exe, read_frames, write_video

pytestmark = pytest.mark.slow
CLIPS = {"00002": 16, "00010": 12}  # real clip -> frames kept (different lengths: DME's pooling shows)
RAFT_ITERS = 4  # both sides (the metric's default is 20; RAFT is slow on a shared CPU)


@pytest.fixture(scope="module")
def data(real_clips, tmp_path_factory, single_thread):
    """Two real clips preprocessed into a dataset dir; predictions = ground truth shifted 2 px with noise, the
    ground truth's audio muxed; seeded random weights in a weights dir (environment set for the module)."""
    from stsa.data.audio import extract_wav
    from stsa.data.datasets import Clip
    from stsa.data.preprocess import PreprocessConfig, preprocess_clip

    tmp = tmp_path_factory.mktemp("reference")
    gt_root, pred = tmp / "gt", tmp / "pred"
    rng = np.random.default_rng(0)
    for cid, n in CLIPS.items():
        extract_wav(real_clips / f"{cid}.mp4", tmp / f"{cid}.wav")
        src = tmp / "src" / f"{cid}.mp4"
        write_video(src, read_frames(real_clips / f"{cid}.mp4")[:n], audio=tmp / f"{cid}.wav")
        status = preprocess_clip(Clip(clip_id=cid, video=src, audio=None, split="test"), gt_root / cid,
                                 PreprocessConfig(min_frames=8))
        assert status["status"] == "ok", status["reason"]
        frames = read_frames(gt_root / cid / "video.mp4")
        moved = np.roll(frames, 2, axis=2).astype(int) + rng.integers(-6, 7, frames.shape)
        write_video(pred / f"{cid}.mp4", np.clip(moved, 0, 255).astype(np.uint8), audio=gt_root / cid / "audio.wav")
    calibration = np.concatenate([np.load(gt_root / c / "clip.npz")["crops"][:4] for c in CLIPS])
    paths = random_weights(tmp / "weights", calibration)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in weights_env(tmp / "weights").items():
            mp.setenv(key, value)
        yield SimpleNamespace(gt=gt_root, pred=pred, paths=paths, tmp=tmp, ids=list(CLIPS))


@pytest.fixture(scope="module")
def evaluated(data):
    """One production run of the four network metrics (crops LSE), and one of LSE with Wav2Lip's protocol."""
    from metrics.evaluator import evaluate_method

    df, agg = evaluate_method(data.gt, data.pred, data.ids, "m", "d", ["fid", "lpips", "lse", "dme"], device="cpu",
                              cache_dir=data.tmp / "cache", options={"raft_iters": RAFT_ITERS})
    df_lrs, agg_lrs = evaluate_method(data.gt, data.pred, data.ids, "m", "d", ["lse"], device="cpu",
                                      options={"lse_protocol": "wav2lip_lrs"})
    assert agg["unavailable"] == {} and agg_lrs["unavailable"] == {}, (agg["unavailable"], agg_lrs["unavailable"])
    assert (df["status"] == "ok").all() and not df["notes"].any(), df["notes"].tolist()
    return SimpleNamespace(df=df.set_index("clip"), agg=agg, df_lrs=df_lrs.set_index("clip"), agg_lrs=agg_lrs)


def _gt_crops(data, cid: str) -> np.ndarray:
    with np.load(data.gt / cid / "clip.npz") as z:
        return z["crops"]


def _pred_crops(data, cid: str) -> np.ndarray:
    """The prediction decoded and cropped here, with the ground truth's boxes (same length as the GT here)."""
    with np.load(data.gt / cid / "clip.npz") as z:
        boxes = z["boxes"]
    frames = read_frames(data.pred / f"{cid}.mp4")
    assert len(frames) == len(boxes)
    return crop_faces(frames, boxes)


def test_weights_used_are_listed_with_their_sha256(data, evaluated):
    from stsa.weights import sha256_file

    expected = {name: sha256_file(data.paths[name]) for name in ("pt_inception", "alexnet", "syncnet_v2",
                                                                  "raft_large")}
    assert evaluated.agg["weights"] == expected
    assert evaluated.agg_lrs["weights"] == {"syncnet_v2": expected["syncnet_v2"]}
    assert evaluated.agg["settings"] == {"lse": {"lse_protocol": "crops"}, "dme": {"raft_iters": RAFT_ITERS}}
    assert evaluated.agg_lrs["settings"] == {"lse": {"lse_protocol": "wav2lip_lrs"}}


def _pngs(frames: np.ndarray, d: Path) -> list[Path]:
    from PIL import Image

    d.mkdir(parents=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(d / f"{i:04d}.png")
    return sorted(d.glob("*.png"))


def test_fid_equals_pytorch_fid(data, evaluated, tmp_path):
    from pytorch_fid import fid_score, inception

    state = torch.load(data.paths["pt_inception"], weights_only=True)
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state):
        model = inception.InceptionV3([3]).eval()
    gt = np.concatenate([_gt_crops(data, c) for c in data.ids])
    pred = np.concatenate([_pred_crops(data, c) for c in data.ids])
    acts = [fid_score.get_activations(_pngs(frames, tmp_path / tag), model, batch_size=8, num_workers=0)
            for tag, frames in (("pred", pred), ("gt", gt))]
    stats = [(np.mean(a, axis=0), np.cov(a, rowvar=False)) for a in acts]  # calculate_activation_statistics
    # pytorch-fid's distance in the span of the centred features and the mean difference: an orthonormal change of
    # basis that keeps every term (outside it both covariances and the mean difference are 0) and makes scipy's
    # sqrtm take a second instead of a minute at 2048-d
    diff = stats[0][0] - stats[1][0]
    basis = np.concatenate([acts[0] - stats[0][0], acts[1] - stats[1][0], diff[None]]).T  # (2048, k)
    q = np.linalg.svd(basis.astype(np.float64), full_matrices=False)[0]
    q = q[:, : np.linalg.matrix_rank(basis)]
    ref = fid_score.calculate_frechet_distance(q.T @ stats[0][0], q.T @ stats[0][1] @ q, q.T @ stats[1][0],
                                               q.T @ stats[1][1] @ q)
    assert ref > 1.0  # calibrated random Inception: the two sets differ
    assert evaluated.agg["FID"] == pytest.approx(ref, rel=1e-5)


def test_lpips_equals_the_lpips_package(data, evaluated):
    import lpips

    ref_model = lpips.LPIPS(net="alex", verbose=False).eval()  # its torchvision backbone from the hub cache file
    per_video = {}
    for cid in data.ids:
        p, g = (torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255 for x in (_pred_crops(data, cid),
                                                                              _gt_crops(data, cid)))
        with torch.no_grad():
            per_video[cid] = float(ref_model(p, g, normalize=True).flatten().double().mean())
        assert evaluated.df.loc[cid, "LPIPS"] == pytest.approx(per_video[cid], abs=1e-6)
    assert per_video["00002"] > 1e-3
    assert evaluated.agg["LPIPS"] == pytest.approx(np.mean(list(per_video.values())), abs=1e-6)


def _syncnet(path: Path):
    from syncnet_python.SyncNetInstance import SyncNetInstance
    from syncnet_python.SyncNetModel import S

    inst = SyncNetInstance(net=S(), device="cpu")
    inst.loadParameters(str(path))
    return inst


def _evaluate_syncnet(inst, frames_bgr_224: np.ndarray, wav: Path, d: Path) -> tuple[int, float, float]:
    """syncnet-python's evaluate on these exact frames (PNG bytes under the .jpg names it globs: lossless)."""
    import cv2

    d.mkdir(parents=True)
    for i, f in enumerate(frames_bgr_224):
        (d / f"{i:06d}.jpg").write_bytes(cv2.imencode(".png", f)[1].tobytes())
    shutil.copyfile(wav, d / "audio.wav")
    with contextlib.redirect_stdout(io.StringIO()):
        return inst.evaluate(SimpleNamespace(tmp_dir=str(d), batch_size=20, vshift=15))


def test_lse_crops_equals_syncnet_python(data, evaluated, tmp_path):
    """Crops protocol: the prediction's face crops (BGR, resized to 224 as Wav2Lip's script) with the GT audio."""
    import cv2

    inst = _syncnet(data.paths["syncnet_v2"])
    for cid in data.ids:
        bgr = np.stack([cv2.resize(np.ascontiguousarray(f[..., ::-1]), (224, 224)) for f in _pred_crops(data, cid)])
        offset, conf, dist = _evaluate_syncnet(inst, bgr, data.gt / cid / "audio.wav", tmp_path / cid)
        row = evaluated.df.loc[cid]
        assert row["LSE-D"] == pytest.approx(dist, rel=1e-4, abs=1e-4)
        assert row["LSE-C"] == pytest.approx(conf, rel=1e-4, abs=1e-4)
        assert row["LSE_offset"] == offset
    assert evaluated.agg["LSE-C"] == pytest.approx(evaluated.df["LSE-C"].mean())


def wav2lip_lrs_fixture(video: Path, d: Path) -> tuple[np.ndarray, Path]:
    """Wav2Lip's ``evaluation/scores_LSE/SyncNetInstance_calc_scores.py`` input steps, as that script runs them:
    ffmpeg frames to JPEG, cv2.imread + cv2.resize to 224, ffmpeg audio to 16 kHz mono PCM."""
    import cv2

    d.mkdir(parents=True)
    exe = ffmpeg_exe()
    subprocess.run(f"{exe} -loglevel error -y -i {video} -threads 1 -f image2 {d / '%06d.jpg'}", shell=True,
                   check=True)
    subprocess.run(f"{exe} -loglevel error -y -i {video} -async 1 -ac 1 -vn -acodec pcm_s16le -ar 16000 "
                   f"{d / 'audio.wav'}", shell=True, check=True)
    frames = [cv2.resize(cv2.imread(str(f)), (224, 224)) for f in sorted(d.glob("*.jpg"))]
    return np.stack(frames), d / "audio.wav"


def test_lse_wav2lip_lrs_equals_wav2lip_script_and_syncnet_python(data, evaluated, tmp_path):
    """Wav2Lip's protocol: the whole generated frame and the video's own audio; differs from the crops protocol."""
    inst = _syncnet(data.paths["syncnet_v2"])
    for cid in data.ids:
        frames, wav = wav2lip_lrs_fixture(data.pred / f"{cid}.mp4", tmp_path / "ffmpeg" / cid)
        assert frames.shape[1:] == (224, 224, 3) and len(frames) == CLIPS[cid]
        offset, conf, dist = _evaluate_syncnet(inst, frames, wav, tmp_path / "eval" / cid)
        row = evaluated.df_lrs.loc[cid]
        assert row["LSE-D"] == pytest.approx(dist, rel=1e-4, abs=1e-4)
        assert row["LSE-C"] == pytest.approx(conf, rel=1e-4, abs=1e-4)
        assert row["LSE_offset"] == offset
        assert abs(row["LSE-D"] - evaluated.df.loc[cid, "LSE-D"]) > 1e-3  # another input than the crops
    assert evaluated.agg_lrs["LSE-D"] == pytest.approx(evaluated.df_lrs["LSE-D"].mean())


def test_lse_wav2lip_lrs_needs_the_videos_own_audio(data, tmp_path):
    from metrics.evaluator import evaluate_method

    silent = tmp_path / "silent"
    silent.mkdir()
    os.symlink(data.gt / "00010" / "video.mp4", silent / "00010.mp4")  # video.mp4 has no audio track
    df, agg = evaluate_method(data.gt, silent, ["00010"], "m", "d", ["psnr", "lse"], device="cpu",
                              options={"lse_protocol": "wav2lip_lrs"})
    assert df.loc[0, "status"] == "ok" and df.loc[0, "PSNR"] == 100.0 and np.isnan(df.loc[0, "LSE-D"])
    assert "no audio track" in df.loc[0, "notes"] and "lse_protocol crops" in df.loc[0, "notes"]


def test_dme_equals_an_independent_raft_dyco_computation(data, evaluated):
    """Dyco's DME_Computer: RAFT flow (its input normalisation 2 * (x / 255) - 1) between consecutive frames, one
    pair at a time, of the ground truth and of the prediction; pixels where |u| + |v| of the GT flow > 1; mean EPE
    there; pairs without such pixels dropped; the table value is the mean of one list of every pair (finalize)."""
    from torchvision.models.optical_flow import raft_large

    model = raft_large(weights=None)
    model.load_state_dict(torch.load(data.paths["raft_large"], weights_only=True))
    model.eval()

    def flow(a: np.ndarray, b: np.ndarray) -> torch.Tensor:  # (H, W, 3) uint8 x2 -> (2, H, W)
        x = [2 * (torch.from_numpy(f).permute(2, 0, 1).float()[None] / 255.0) - 1 for f in (a, b)]
        with torch.no_grad():
            return model(x[0], x[1], num_flow_updates=RAFT_ITERS)[-1][0]

    pooled, per_video = [], {}
    for cid in data.ids:
        gt, pred = _gt_crops(data, cid), _pred_crops(data, cid)
        errors = []
        for t in range(len(gt) - 1):
            gt_of, pred_of = flow(gt[t], gt[t + 1]), flow(pred[t], pred[t + 1])
            mask = torch.sum(torch.abs(gt_of), dim=0) > 1
            if mask.sum() == 0:
                continue
            errors.append(torch.norm(gt_of - pred_of, dim=0)[mask].mean().item())
        assert len(errors) >= len(gt) - 2  # moving pixels in (nearly) every pair: a non-degenerate check
        per_video[cid] = float(np.mean(errors))
        pooled += errors
        assert evaluated.df.loc[cid, "DME"] == pytest.approx(per_video[cid], rel=1e-4)
    assert evaluated.agg["DME"] == pytest.approx(float(np.mean(pooled)), rel=1e-4)
    assert abs(np.mean(pooled) - np.mean(list(per_video.values()))) > 1e-4  # pooling is what is checked
