"""GT and Reference-copy rows, run through run_method as the workflow does."""

from __future__ import annotations

import json

import numpy as np
import pytest
from baselines_fixtures import make_clip

from baselines.base import ClipJob
from baselines.run import run_method
from stsa.data.crops import crop_faces
from stsa.data.video import probe, read_frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "spk1" / "00001", n_frames=20)


def _job(clip, out_dir, name="spk1/00001"):
    return ClipJob(name, clip, clip / "audio.wav", out_dir / f"{name}.mp4")


def test_gt_is_bit_exact_and_has_audio(clip, tmp_path):
    job = _job(clip, tmp_path)
    df = run_method("gt", {}, [job])
    assert df.loc[0, "status"] == "ok", df.loc[0, "reason"]
    out, ref = read_frames(job.out_path), read_frames(clip / "video.mp4")
    assert out.shape == ref.shape and np.array_equal(out, ref)  # PSNR inf / SSIM 1 against itself
    info = probe(job.out_path)
    assert info.has_audio and abs(info.fps - 25) < 1e-6
    meta = json.loads(job.meta_path.read_text())
    assert meta["adapter"] == "gt" and meta["status"] == "ok"


def test_reference_copy_keeps_upper_half_and_replaces_lower(clip, tmp_path):
    from baselines.trivial import reference_index

    job = _job(clip, tmp_path)
    df = run_method("reference-copy", {}, [job])
    assert df.loc[0, "status"] == "ok", df.loc[0, "reason"]
    from stsa.data.clip import ClipData

    gt_clip = ClipData.load(clip)
    boxes, gt_crops = gt_clip.boxes, gt_clip.crops
    out = read_frames(job.out_path)
    assert out.shape == read_frames(clip / "video.mp4").shape and probe(job.out_path).has_audio
    crops = crop_faces(out, boxes).astype(np.float32)
    gt = gt_crops.astype(np.float32)
    # upper half: GT up to paste resampling + encoding (feathered edge rows excluded)
    upper_err = np.abs(crops[:, 8:56, 8:120] - gt[:, 8:56, 8:120]).mean()
    assert upper_err < 4.0, upper_err
    # lower half: the reference frame's, not the frame's own (the mouth moves in this clip)
    ref = reference_index(gt_clip.openness)
    lower = crops[:, 72:120, 8:120]
    err_ref = np.abs(lower - gt[ref, 72:120, 8:120]).mean()
    err_own = np.abs(lower - gt[:, 72:120, 8:120]).mean()
    assert err_ref < 4.0 and err_own > err_ref + 1.0, (err_ref, err_own)


def test_reference_index_is_the_median_openness_frame():
    from baselines.trivial import reference_index

    openness = np.array([5, 1, 9, 3, 7, 2, 8, 4, 6], np.float32)
    assert reference_index(openness) == int(np.argsort(openness)[4])  # openness 5 -> frame 0
    assert reference_index(openness) == 0
