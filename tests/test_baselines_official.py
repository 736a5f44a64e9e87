"""Each official adapter against a fixture that reproduces its official code's behaviour (tests/official_fixtures.py):
where it writes, side-by-side output, cropped geometry, frame offset, exit 0 on error, unseeded sampling, frame
deficit. The fixtures use an identity "model", so a correctly aligned output reproduces the ground truth."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from baselines_fixtures import make_clip
from official_fixtures import fixture_openface_csv, fixture_repo

from baselines.base import ClipJob
from baselines.official import external
from baselines.official.external import OfficialAdapter, normalise_output
from baselines.official.methods import OFFICIAL_METHODS
from stsa.data.video import probe, read_frames

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def work_tmp(tmp_path, monkeypatch):
    """Adapter work dirs under tmp_path (kept with keep_work=1), so a test can read the official raw output."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


@pytest.fixture
def fake_cuda(monkeypatch):
    """Pretend the method's environment sees a GPU (the fixture scripts run on this CPU interpreter)."""
    monkeypatch.setattr(external, "cuda_available", lambda python: (True, "fixture: CUDA assumed"))


def _adapter(name, repo, **opts):
    return OfficialAdapter({"python": sys.executable, "repo": str(repo), **opts}, spec=OFFICIAL_METHODS[name])


def _job(clip, out, cid="spk1/00001"):
    return ClipJob(cid, clip, clip / "audio.wav", out / f"{cid}.mp4")


def _psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255 ** 2 / max(mse, 1e-10)))


def _raw_output(work_tmp, name, rel) -> Path:
    [path] = list(work_tmp.glob(f"stsa-{name}-*/{rel}"))
    return path


@pytest.fixture(scope="module")
def clip50(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("c50") / "spk1" / "00001", n_frames=50)


@pytest.fixture(scope="module")
def clip30(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("c30") / "spk1" / "00001", n_frames=30, seed=1)


# ------------------------------------------------------------------------------------------------- Wav2Lip


def test_wav2lip_frame_deficit_is_padded_and_reported_without_a_third_lossy_encode(clip50, tmp_path, work_tmp):
    """47 frames (one per mel chunk) for 50: padded with the last frame, reported, and the 47 generated frames are
    bit-identical to the official mp4's (lossless tpad instead of a third lossy encode)."""
    repo = fixture_repo(tmp_path / "Wav2Lip", "wav2lip-official")
    (repo / "face_detection/detection/sfd/s3fd.pth").unlink()  # not needed with --box
    adapter = _adapter("wav2lip-official", repo, box="20 100 40 120", keep_work="1")
    assert adapter.status().ready, adapter.status()
    job = _job(clip50, tmp_path / "out")
    [row] = adapter.dub([job])
    assert row["status"] == "ok", row
    meta = json.loads(job.meta_path.read_text())
    assert (meta["frames_generated"], meta["frames_gt"], meta["frames_padded"], meta["frames_padded_tail"]) \
        == (47, 50, 3, 3)
    assert meta["encode"].startswith("lossless")
    official = read_frames(_raw_output(work_tmp, "wav2lip-official", "out/result.mp4"))
    ours = read_frames(job.out_path)
    assert len(official) == 47 and len(ours) == 50 and probe(job.out_path).has_audio
    assert np.array_equal(ours[:47], official)
    assert all(np.array_equal(ours[k], official[-1]) for k in (47, 48, 49))
    log = job.log_path.read_text()
    assert "'box': [20, 100, 40, 120]" in log and "'pads': [0, 10, 0, 0]" in log


def test_wav2lip_pads_resize_factor_nosmooth_reach_the_script(clip50, tmp_path):
    repo = fixture_repo(tmp_path / "Wav2Lip", "wav2lip-official")
    adapter = _adapter("wav2lip-official", repo, pads="0,20,0,0", resize_factor="2", nosmooth="1")
    job = _job(clip50, tmp_path / "out")
    [row] = adapter.dub([job])
    assert row["status"] == "ok", row
    log = job.log_path.read_text()
    assert "'pads': [0, 20, 0, 0]" in log and "'resize_factor': 2" in log and "'nosmooth': True" in log
    out, gt = probe(job.out_path), probe(clip50 / "video.mp4")
    assert (out.width, out.height) == (gt.width, gt.height)  # the half-size official output is scaled back
    assert not (repo / "temp" / "result.avi").exists()  # the checkout's temp file is removed after the run
    [row] = _adapter("wav2lip-official", repo, box="1 2 3").dub([job])
    assert row["status"] == "failed" and "expected 4 integers" in row["reason"]


def test_wav2lip_checkpoint_option_and_box_change_the_required_files(tmp_path):
    repo = tmp_path / "Wav2Lip"
    (repo / "checkpoints").mkdir(parents=True)
    (repo / "checkpoints" / "wav2lip.pth").write_bytes(b"x")
    st = _adapter("wav2lip-official", repo, checkpoint="checkpoints/wav2lip.pth").status()
    assert not st.ready and [m for m in st.missing if "s3fd.pth" in m] and not [m for m in st.missing if "gan" in m]
    assert _adapter("wav2lip-official", repo, checkpoint="checkpoints/wav2lip.pth", box="0 1 0 1").status().ready


# ------------------------------------------------------------------------------------------------- PC-AVS


def _face_err(out, gt, boxes, t):
    x1, y1, x2, y2 = boxes[t]
    return float(np.abs(out[t, y1:y2, x1:x2].astype(np.float32) - gt[t, y1:y2, x1:x2]).mean())


def test_pcavs_results_folder_crop_geometry_and_two_frame_offset(clip30, tmp_path, fake_cuda):
    """PC-AVS writes into the repo's results/ folder, frames 2..n-3 in the [0:192, 16:208] geometry: the adapter
    finds them there, pastes them into that window of our boxes and shifts them by 2 frames."""
    repo = fixture_repo(tmp_path / "PC-AVS", "pc-avs")
    adapter = _adapter("pc-avs", repo)
    job = _job(clip30, tmp_path / "out")
    [row] = adapter.dub([job])
    assert row["status"] == "ok", row
    meta = json.loads(job.meta_path.read_text())
    # 30 frames of audio: lws gives 127 bins -> 31 frames -> targets 2..28
    assert (meta["frames_generated"], meta["frame_offset"], meta["frames_padded_head"],
            meta["frames_padded_tail"]) == (27, 2, 2, 1)
    out, gt = read_frames(job.out_path), read_frames(clip30 / "video.mp4")
    assert len(out) == 30
    boxes = np.load(clip30 / "clip.npz")["boxes"].astype(int)
    errs = [_face_err(out, gt, boxes, t) for t in range(2, 29)]
    shifted = [_face_err(out[2:], gt, boxes, t) for t in range(0, 27)]  # output frame t+2 against GT frame t
    assert max(errs) < 8 and np.mean(shifted) > np.mean(errs) + 2
    assert not list((repo / "results").iterdir())  # the per-run results folder is removed from the checkout


def test_pcavs_full_crop_paste_would_be_wrong(clip30, tmp_path):
    """Against the geometry: a folder of 224 faces made like load_img, pasted as full crops vs in the window."""
    import cv2

    from baselines.official.methods import PCAVS_WINDOW

    crops = np.load(clip30 / "clip.npz")["crops"]
    folder = tmp_path / "G_Pose_Driven_"
    folder.mkdir()
    for i, c in enumerate(crops[2:28]):
        big = cv2.resize(c, (224, 224))
        cv2.imwrite(str(folder / f"G_Pose_Driven_{i}.jpg"), cv2.resize(big[:192, 16:208], (224, 224))[..., ::-1])
    gt = read_frames(clip30 / "video.mp4")
    boxes = np.load(clip30 / "clip.npz")["boxes"].astype(int)
    errs = {}
    for name, window in (("window", PCAVS_WINDOW), ("full", None)):
        job = _job(clip30, tmp_path / name)
        normalise_output(folder, job, "crop", offset=2, face_window=window)
        out = read_frames(job.out_path)
        errs[name] = np.mean([_face_err(out, gt, boxes, t) for t in range(2, 28)])
    assert errs["window"] < 8 < errs["full"]


def test_pcavs_stale_folder_of_an_earlier_clip_is_never_used(tmp_path, fake_cuda):
    repo = fixture_repo(tmp_path / "PC-AVS", "pc-avs")
    a = make_clip(tmp_path / "clips" / "a" / "1", n_frames=20, seed=3)
    b = make_clip(tmp_path / "clips" / "b" / "1", n_frames=20, seed=4)
    adapter = _adapter("pc-avs", repo)
    rows = adapter.dub([_job(a, tmp_path / "out", "a/1"), _job(b, tmp_path / "out", "b/1")])
    assert [r["status"] for r in rows] == ["ok", "ok"], rows
    out_b, gt_a, gt_b = (read_frames(p) for p in (tmp_path / "out/b/1.mp4", a / "video.mp4", b / "video.mp4"))
    boxes = np.load(b / "clip.npz")["boxes"].astype(int)
    assert _face_err(out_b, gt_b, boxes, 5) < 8 < _face_err(out_b, gt_a, boxes, 5)


def test_pcavs_exit_0_after_a_traceback_is_a_failure_with_its_log(clip30, tmp_path, fake_cuda, monkeypatch):
    repo = fixture_repo(tmp_path / "PC-AVS", "pc-avs")
    monkeypatch.setenv("FIXTURE_PCAVS_FAIL", "1")
    job = _job(clip30, tmp_path / "out")
    [row] = _adapter("pc-avs", repo).dub([job])
    assert row["status"] == "failed"
    assert "exited 0 but wrote no output" in row["reason"] and "fixture failure on purpose" in row["reason"]
    assert "results/id_" in row["reason"] and str(job.log_path) in row["reason"]
    assert "[exit 0]" in job.log_path.read_text() and not job.out_path.exists()


def test_cuda_only_methods_fail_fast_without_a_gpu(clip30, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this interpreter sees a GPU")
    for name in ("pc-avs", "ip-lap", "dinet"):
        st = _adapter(name, fixture_repo(tmp_path / name, name), landmark_dir=str(tmp_path)).status()
        assert not st.ready and "CUDA-only" in st.reason and "torch.cuda.is_available() is False" in st.reason
    job = _job(clip30, tmp_path / "out")
    [row] = _adapter("pc-avs", tmp_path / "pc-avs").dub([job])
    assert row["status"] == "unavailable" and "needs a CUDA GPU" in row["reason"]
    assert not (tmp_path / "pc-avs" / "results").exists() and not job.log_path.exists()  # never started


# ------------------------------------------------------------------------------------------------- IP-LAP


def test_iplap_side_by_side_output_keeps_the_result_half(clip30, tmp_path, fake_cuda, work_tmp):
    repo = fixture_repo(tmp_path / "IP_LAP", "ip-lap")
    job = _job(clip30, tmp_path / "out")
    [row] = _adapter("ip-lap", repo, keep_work="1").dub([job])
    assert row["status"] == "ok", row
    meta = json.loads(job.meta_path.read_text())
    # 19200 samples -> 97 mel frames -> 26 chunks; frames 0-1 are the method's copies of frame 2
    assert (meta["frames_generated"], meta["frames_padded_tail"], meta["frames_duplicated_by_method"]) == (26, 4, 2)
    out, gt = read_frames(job.out_path), read_frames(clip30 / "video.mp4")
    assert out.shape == gt.shape
    assert min(_psnr(out[t], gt[t]) for t in range(2, 26)) > 30
    raw = _raw_output(work_tmp, "ip-lap", "out/*/inputresult_N_25_Nl_15.mp4")
    assert probe(raw).width == 2 * gt.shape[2]
    squashed = _job(clip30, tmp_path / "squashed")  # the old normalisation: the whole 2W x H resized to W x H
    normalise_output(raw, squashed)
    assert _psnr(read_frames(squashed.out_path)[10], gt[10]) < 20
    [temp], [work] = repo.glob("tempfile_of_*"), work_tmp.glob("stsa-ip-lap-*")  # kept by keep_work=1
    assert temp.name == "tempfile_of_" + re.sub(r"[^A-Za-z0-9]", "", work.name)  # its cwd temp dir is per run


# ------------------------------------------------------------------------------------------------- DINet


def _landmarks68(clip, n):
    rng = np.random.default_rng(0)
    return rng.uniform(30, 100, (n, 68, 2))


def test_dinet_rejects_the_default_openface_csv_before_running(clip30, tmp_path, fake_cuda):
    repo = fixture_repo(tmp_path / "DINet", "dinet")
    lmk = tmp_path / "openface"
    fixture_openface_csv(lmk / "spk1" / "00001.csv", _landmarks68(clip30, 30), landmarks_only=False)
    job = _job(clip30, tmp_path / "out")
    [row] = _adapter("dinet", repo, landmark_dir=str(lmk)).dub([job])
    assert row["status"] == "failed" and "-2Dfp" in row["reason"] and "gaze_0_x" in row["reason"]
    assert not job.log_path.exists()  # DINet never ran on wrong landmarks
    fixture_openface_csv(lmk / "spk1" / "00001.csv", _landmarks68(clip30, 29))
    [row] = _adapter("dinet", repo, landmark_dir=str(lmk)).dub([job])
    assert row["status"] == "failed" and "29 landmark rows" in row["reason"] and "30-frame" in row["reason"]


def test_dinet_reference_sampling_is_seeded(clip30, tmp_path, fake_cuda):
    repo = fixture_repo(tmp_path / "DINet", "dinet")
    lmk = tmp_path / "openface"
    fixture_openface_csv(lmk / "spk1" / "00001.csv", _landmarks68(clip30, 30))
    refs = []
    for k, seed in enumerate((None, None, "1")):
        opts = {"landmark_dir": str(lmk), **({"seed": seed} if seed else {})}
        job = _job(clip30, tmp_path / f"out{k}")
        [row] = _adapter("dinet", repo, **opts).dub([job])
        assert row["status"] == "ok", row
        assert json.loads(job.meta_path.read_text())["seed"] == int(seed or 0)
        refs.append(re.search(r"ref_index_list .*", job.log_path.read_text()).group(0))
        assert len(read_frames(job.out_path)) == 30
    assert refs[0] == refs[1] != refs[2]


# ------------------------------------------------------------------------------------------------- MuseTalk


def test_musetalk_checks_its_detector_and_configs_and_exit_0_errors_fail(clip30, tmp_path):
    repo = fixture_repo(tmp_path / "MuseTalk", "musetalk")
    for rel in ("musetalk/utils/face_detection/detection/sfd/s3fd.pth", "models/sd-vae/config.json",
                "models/whisper/preprocessor_config.json"):
        (repo / rel).unlink()
    st = _adapter("musetalk", repo).status()
    assert not st.ready and sum(1 for m in st.missing if "s3fd.pth" in m or "json" in m) == 3
    repo = fixture_repo(tmp_path / "MuseTalk", "musetalk")
    job = _job(clip30, tmp_path / "out")
    [row] = _adapter("musetalk", repo).dub([job])
    assert row["status"] == "failed" and "exited 0 but wrote no output" in row["reason"]
    assert "Error occurred during processing" in row["reason"] and "v15/result.mp4" in row["reason"]


# ------------------------------------------------------------------------------------------------- TalkLip


def test_talklip_gets_audio_no_longer_than_the_video(clip30, tmp_path):
    """inf_demo.py repeats every frame when the audio has one feature more than the video: the staged audio is cut
    to the video, and its features (python_speech_features logfbank stacked by 4, as fre_audio) match the frames."""
    import soundfile as sf

    longer = tmp_path / "long.wav"
    wav, sr = sf.read(clip30 / "audio.wav", dtype="int16")
    sf.write(longer, np.concatenate([wav, wav[:5000]]), sr, subtype="PCM_16")
    job = ClipJob("spk1/00001", clip30, longer, tmp_path / "out" / "spk1" / "00001.mp4")
    adapter = _adapter("talklip", tmp_path / "TalkLip", avhubert_root=str(tmp_path))
    work = tmp_path / "work"
    ctx, cmd = adapter.build(job, work)
    staged = Path(cmd[cmd.index("--wav_path") + 1])
    assert cmd[cmd.index("--ckpt_path") + 1].endswith("checkpoints/talklip_gc.pth")
    psf = pytest.importorskip("python_speech_features")
    data, rate = sf.read(staged, dtype="int16")
    n_feats = -(-len(psf.logfbank(data, samplerate=rate)) // 4)
    assert n_feats == 30 and len(data) == 30 * 640
    ctx, cmd = _adapter("talklip", tmp_path / "TalkLip", avhubert_root=str(tmp_path),
                        checkpoint="checkpoints/talklip_g.pth").build(job, tmp_path / "work2")
    assert cmd[cmd.index("--ckpt_path") + 1].endswith("checkpoints/talklip_g.pth")


def test_baselines_list_shows_devices_downloads_and_preparation(capsys):
    from stsa.cli import main

    assert main(["baselines", "list"]) == 0
    out = capsys.readouterr().out
    blocks = dict(re.findall(r"^(\S+) .*\n((?:^ {18}.*\n)*)", out, re.M))
    for name, spec in OFFICIAL_METHODS.items():
        if spec.command is None:
            continue
        text = blocks[name]
        assert f"git clone {spec.repo_url} $REPO && git -C $REPO checkout {spec.commit}" in text
        assert ("device: CUDA only" in text) == spec.cuda_only and "device: " in text
        for ck in spec.checkpoints:
            assert f"file: {ck.path}" in text
    assert "run-time download: https://www.adrianbulat.com/downloads/python-fan/2DFAN4-cd938726ad.zip" \
        in blocks["ip-lap"]
    assert "downloaded at run time when absent" in blocks["musetalk"] and "-2Dfp" in blocks["dinet"]
