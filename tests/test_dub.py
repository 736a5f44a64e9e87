"""`stsa-bench dub`: release frame order, batched == frame-by-frame inference, real template + audio end to end,
preprocessed-clip jobs and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from stsa_tiny import face_landmarks, make_corpus

from stsa.dub import Dubber, frame_sequence, read_template, window_indices

pytestmark = pytest.mark.usefixtures("single_thread")


def release_sequence(n_template: int, n_chunks: int) -> list[int]:
    """inference.py of the release, verbatim logic."""
    seq = list(range(n_template))
    num_of_repeat = n_chunks // n_template + 1
    seq = seq + list(reversed(seq))
    return seq * ((num_of_repeat + 1) // 2)


@pytest.mark.parametrize(("n", "n_out"), [(7, 3), (7, 7), (7, 20), (5, 41), (1, 4)])
def test_frame_sequence_matches_release(n, n_out):
    assert frame_sequence(n, n_out).tolist() == release_sequence(n, n_out)[:n_out]


def test_window_indices_centre_on_frame():
    w = window_indices(4)
    assert w.tolist()[0] == [-2, -1, 0, 1, 2] and w.tolist()[3] == [1, 2, 3, 4, 5]


def test_batched_equals_release_order(dubber):
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (7, 128, 128, 3), dtype=np.uint8)
    lm = face_landmarks(7, rng)
    openness = rng.uniform(size=7)
    audio = rng.normal(0, 1, (6, 80, 16)).astype(np.float32)
    fast = dubber.dub_faces(crops, lm, openness, audio)
    slow = dubber.dub_faces_framewise(crops, lm, openness, audio)
    assert fast.shape == (6, 128, 128, 3)
    diff = np.abs(fast.astype(int) - slow.astype(int))
    assert diff.max() <= 1 and diff.mean() < 1e-3  # float summation order only
    assert fast.std() > 0


def test_batched_encodes_references_once_per_video(dubber):
    """The reference encoders of both stages run once per dub_faces call, the pose encoder once per template
    frame, the audio encoder once per audio window (+ the zero window), the heatmap decoder once per output frame
    (centre slot only), the keypoint heads and the CIL bound never; the release order still runs them per frame
    (guidance: per window)."""
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 255, (7, 128, 128, 3), dtype=np.uint8)
    lm = face_landmarks(7, rng)
    audio = rng.normal(0, 1, (6, 80, 16)).astype(np.float32)   # chunk 4: two batches
    g, r = dubber.guidance, dubber.renderer
    watched = {"guidance refs": g.ref_encoder, "poses": g.pose_encoder, "renderer refs": r.ref_imgs_encoder,
               "temporal refs": r.temporal_module.conv1, "cil": r.mine, "audio": g.mel_encoder,
               "decoded": g.heatmap_decoder, "keypoints": g.mouse_keypoint_map}
    seen = {k: 0 for k in watched}

    def counter(name):
        def hook(module, inputs, output):
            seen[name] += inputs[0].size(0)   # images encoded
        return hook

    hooks = [m.register_forward_hook(counter(k)) for k, m in watched.items()]
    try:
        dubber.dub_faces(crops, lm, np.arange(7.0), audio)
        batched = dict(seen)
        seen.update({k: 0 for k in seen})
        dubber.dub_faces_framewise(crops, lm, np.arange(7.0), audio)
    finally:
        for h in hooks:
            h.remove()
    n = dubber.cfg.n_ref
    assert batched == {"guidance refs": n, "poses": 7, "renderer refs": 1, "temporal refs": n, "cil": 0,
                       "audio": 7, "decoded": 6, "keypoints": 0}
    t = dubber.cfg.T
    assert seen["guidance refs"] == 6 * n and seen["renderer refs"] == 6 and seen["cil"] > 0
    assert seen["audio"] == seen["decoded"] == seen["keypoints"] == 6 * t


def test_dub_real_template_with_trimmed_audio(real_clips, dubber, tmp_path):
    import soundfile as sf

    from stsa.data.audio import load_wav
    from stsa.data.video import probe

    template, audio = real_clips / "template_129_30fps_noaudio.mp4", real_clips / "driving_audio2.wav"
    if not (template.is_file() and audio.is_file()):
        pytest.skip("template or driving audio missing")
    wav = tmp_path / "a.wav"
    sf.write(wav, load_wav(audio)[: int(1.2 * 16000)], 16000)  # 1.2 s (keeps the file fast)
    tpl = read_template(template)
    src = probe(template)
    assert len(tpl.frames) == pytest.approx(src.duration * 25, abs=2)  # 30 fps -> 25 fps
    out, crop = tmp_path / "out.mp4", tmp_path / "crop.mp4"
    info = dubber.dub(tpl, wav, out, crop)
    assert info["frames"] == 30
    o, c = probe(out), probe(crop)
    assert o.fps == 25 and o.n_frames == 30 and o.has_audio and o.duration == pytest.approx(1.2, abs=0.1)
    assert (o.width, o.height) == (src.width + src.width % 2, src.height + src.height % 2)
    assert (c.width, c.height, c.n_frames) == (128, 128, 30)


def test_stsa_adapter_dubs_checkpoint_jobs(tmp_path, dubber):
    """The workflow's path: the STSA adapter loads the checkpoint once and dubs each preprocessed clip with its own
    video as the template; a missing clip is a failed row, the others go on."""
    import soundfile as sf

    from baselines.base import ClipJob
    from baselines.run import run_method
    from stsa.data.clip import ClipData
    from stsa.data.video import probe, write_video
    from stsa.train.checkpoint import config_to_dict, save_checkpoint

    root = make_corpus(tmp_path / "pre", n_clips=1, n_frames=8)
    clip_dir = root / "spk0" / "00001"
    clip = ClipData.load(clip_dir)
    frames = np.zeros((8, 148, 148, 3), np.uint8)
    frames[:, 10:138, 10:138] = clip.crops
    write_video(clip.video_path, frames)
    sf.write(tmp_path / "drive.wav", np.random.default_rng(0).normal(0, 0.1, 8 * 640), 16000)
    ckpt = tmp_path / "stsa.pt"
    save_checkpoint(ckpt, {"stage": "finetune", "step": 0, "config": config_to_dict(dubber.cfg),
                           "models": {"guidance": dubber.guidance.state_dict(),
                                      "renderer": dubber.renderer.state_dict()}})
    jobs = [ClipJob("spk0/00001", clip_dir, tmp_path / "drive.wav", tmp_path / "out" / "a.mp4"),
            ClipJob("missing", tmp_path / "nope", tmp_path / "drive.wav", tmp_path / "out" / "b.mp4")]
    rows = run_method("stsa", {"checkpoint": str(ckpt)}, jobs, device="cpu")
    assert list(rows["status"]) == ["ok", "failed"] and "nope" in rows.loc[1, "reason"]
    info = probe(tmp_path / "out" / "a.mp4")
    assert (info.width, info.height, info.n_frames, info.fps) == (148, 148, 8, 25)


def test_clear_errors(tmp_path, monkeypatch):
    from stsa.data.video import write_video
    from stsa.errors import MediaError, NoFaceError, WeightsError

    monkeypatch.setenv("STSA_BENCH_WEIGHTS", str(tmp_path / "w"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "t"))
    with pytest.raises(WeightsError, match="stsa"):
        Dubber.from_checkpoint(None, "cpu")
    blank = tmp_path / "blank.mp4"
    write_video(blank, np.zeros((3, 64, 64, 3), np.uint8))
    with pytest.raises(NoFaceError, match="blank.mp4"):
        read_template(blank)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(MediaError, match="junk.mp4"):
        read_template(junk)
    from stsa.dub import audio_features

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVE")
    with pytest.raises(MediaError, match="bad.wav"):
        audio_features(bad, "mel")
