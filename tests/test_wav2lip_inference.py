"""Native Wav2Lip inference vs the released inference.py (Rudrabha/Wav2Lip 5c90fa9), one test per step, from its
documented behaviour; the whole pipeline against ``official_inference_fixture`` (those steps re-expressed in numpy,
a fixture standing in for the release, no release code)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from baselines_fixtures import make_clip, single_thread

from baselines.wav2lip.inference import (
    InferenceConfig,
    face_inputs,
    frame_mels,
    generate,
    pad_boxes,
    paste_box,
    smooth_boxes,
    to_uint8,
)
from baselines.wav2lip.model import Wav2LipConfig, Wav2LipGenerator
from stsa.data.audio import load_wav, mel_chunks, melspectrogram
from stsa.data.crops import paste_faces
from tests.conftest import randomize_bn_stats

_one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)


def _release_chunk_starts(n_cols: int, fps: float) -> list[int]:
    """inference.py: start int(i * (80 / fps)) while start + 16 fits, then one chunk of the final 16 columns."""
    starts, i = [], 0
    while int(i * (80.0 / fps)) + 16 <= n_cols:
        starts.append(int(i * (80.0 / fps)))
        i += 1
    return starts + [n_cols - 16]


def official_inference_fixture(model, frames_bgr, rects, mel, pads=(0, 10, 0, 0), smooth=True):
    """inference.py's steps with ``rects`` (x1, y1, x2, y2) standing in for S3FD's detections: BGR frames in,
    BGR frames out, one per mel chunk."""
    chunks = [mel[:, s:s + 16] for s in _release_chunk_starts(mel.shape[1], 25.0)]
    frames = frames_bgr[:len(chunks)]
    h, w = frames.shape[1:3]
    top, bottom, left, right = pads
    boxes = np.array([(max(0, x1 - left), max(0, y1 - top), min(w, x2 + right), min(h, y2 + bottom))
                      for x1, y1, x2, y2 in rects[:len(frames)]])  # int64
    if smooth:
        for k in range(len(boxes)):
            boxes[k] = np.mean(boxes[len(boxes) - 5:] if k + 5 > len(boxes) else boxes[k:k + 5], axis=0)
    faces = np.asarray([cv2.resize(f[y1:y2, x1:x2], (96, 96))
                        for f, (x1, y1, x2, y2) in zip(frames, boxes, strict=True)])
    masked = faces.copy()
    masked[:, 48:] = 0
    img = np.concatenate((masked, faces), axis=3) / 255.0  # float64
    mels = np.reshape(np.asarray(chunks), [len(chunks), 80, 16, 1])
    with torch.no_grad():
        pred = model(torch.FloatTensor(np.transpose(mels, (0, 3, 1, 2))),
                     torch.FloatTensor(np.transpose(img, (0, 3, 1, 2))))
    pred = pred.numpy().transpose(0, 2, 3, 1) * 255.0
    out = frames.copy()
    for o, p, (x1, y1, x2, y2) in zip(out, pred, boxes, strict=True):
        o[y1:y2, x1:x2] = cv2.resize(p.astype(np.uint8), (x2 - x1, y2 - y1))
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from types import SimpleNamespace

    from stsa.data.clip import ClipData

    d = make_clip(tmp_path_factory.mktemp("w2l_infer") / "c", n_frames=20)
    data = ClipData.load(d)
    arrays = SimpleNamespace(frames=data.read_frames(), crops=data.crops, boxes=data.boxes.astype(np.int64))
    return arrays, melspectrogram(load_wav(d / "audio.wav"))


@pytest.fixture(scope="module")
def model(clip):
    """Seeded tiny generator, BatchNorm statistics calibrated on random inputs (random N(0.1)/U(0.5,1.5) stats
    leave the output almost constant, which would hide a wrong input), then eval."""
    torch.manual_seed(0)
    g = Wav2LipGenerator(Wav2LipConfig(0.125))
    randomize_bn_stats(g, 1)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    with torch.no_grad():
        g.train()(torch.randn(8, 1, 80, 16) * 2, torch.rand(8, 6, 96, 96))
    return g.eval()


def test_whole_pipeline_matches_the_release_fixture(clip, model):
    arrays, mel = clip
    rgb, boxes = arrays.frames, arrays.boxes
    ref = official_inference_fixture(model, rgb[..., ::-1], boxes, mel)
    ours = generate(model, rgb, boxes, mel, InferenceConfig.official(), batch=len(rgb))
    assert len(ours) == len(ref) == 17 < len(rgb)  # 65 mel columns: 16 chunks that fit + the clamped one
    np.testing.assert_array_equal(ours, ref[..., ::-1])
    no_pads = generate(model, rgb, boxes, mel, InferenceConfig(pads=(0, 0, 0, 0), smooth=1), batch=len(rgb))
    np.testing.assert_array_equal(no_pads, official_inference_fixture(model, rgb[..., ::-1], boxes, mel,
                                                                      pads=(0, 0, 0, 0), smooth=False)[..., ::-1])
    # the comparison can fail: one chunk later, or RGB instead of BGR, changes the output a lot
    late = official_inference_fixture(model, rgb[..., ::-1], boxes, np.pad(mel, ((0, 0), (3, 0)), mode="edge"))
    assert np.abs(late[:len(ref)].astype(int) - ref).mean() > 1.0
    swapped = official_inference_fixture(model, rgb, boxes, mel)  # RGB fed as if BGR
    assert np.abs(swapped.astype(int) - ref[..., ::-1]).mean() > 1.0


def test_box_paste_replaces_the_whole_box_and_nothing_else():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 60, 70, 3), dtype=np.uint8)
    faces = rng.integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    boxes = np.array([[10, 5, 50, 55], [0, 0, 70, 33]])
    out = paste_box(frames, faces, boxes)
    for o, f, face, (x1, y1, x2, y2) in zip(out, frames, faces, boxes, strict=True):
        np.testing.assert_array_equal(o[y1:y2, x1:x2], cv2.resize(face, (x2 - x1, y2 - y1)))
        outside = np.ones(f.shape[:2], bool)
        outside[y1:y2, x1:x2] = False
        np.testing.assert_array_equal(o[outside], f[outside])
    # ours (option paste=feather): a 160 px box keeps its outer 10 px of the original, the face inside
    big, box = rng.integers(0, 256, (1, 200, 200, 3), dtype=np.uint8), np.array([[20, 20, 180, 180]])
    feather, whole = paste_faces(big, faces[:1], box)[0], paste_box(big, faces[:1], box)[0]
    np.testing.assert_array_equal(feather[20:24, 20:180], big[0, 20:24, 20:180])
    np.testing.assert_array_equal(feather[40:160, 40:160], whole[40:160, 40:160])


def test_face_input_is_the_box_resized_straight_to_96_in_bgr():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (3, 90, 120, 3), dtype=np.uint8)
    boxes = np.array([[20, 10, 77, 81], [0, 0, 120, 90], [30, 40, 31, 41]])
    faces = face_inputs(rgb, boxes)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    for face, f, (x1, y1, x2, y2) in zip(faces, bgr, boxes, strict=True):
        np.testing.assert_array_equal(face, cv2.resize(f[y1:y2, x1:x2], (96, 96)))
    via_128 = cv2.resize(cv2.resize(bgr[0, 10:81, 20:77], (128, 128)), (96, 96))  # our old path
    assert not np.array_equal(faces[0], via_128)


def test_output_is_truncated_to_uint8_unless_round():
    pred = np.array([0.0, 0.5, 0.999, 1.0, 1 / 255, 0.7], np.float32)
    np.testing.assert_array_equal(to_uint8(pred, "truncate"), (pred * 255.0).astype(np.uint8))
    np.testing.assert_array_equal(to_uint8(pred, "truncate"), [0, 127, 254, 255, 1, 178])
    np.testing.assert_array_equal(to_uint8(pred, "round"), [0, 128, 255, 255, 1, 179])


@pytest.mark.parametrize("fps", [25.0, 30.0])
def test_mel_chunks_follow_the_release_rule(fps):
    for n_cols in [16, 17, 19, 20, 65, 161, 404, 1001]:
        mel = np.arange(80 * n_cols, dtype=np.float32).reshape(80, n_cols)
        chunks = mel_chunks(mel, fps)
        starts = _release_chunk_starts(n_cols, fps)
        assert len(chunks) == len(starts), n_cols
        for c, s in zip(chunks, starts, strict=True):
            np.testing.assert_array_equal(c, mel[:, s:s + 16])
        np.testing.assert_array_equal(chunks[-1], mel[:, -16:])  # the clamped last chunk
    assert len(mel_chunks(np.zeros((80, 161)))) == 47  # a 2 s clip (50 frames at 25 fps) gives 47 frames
    assert len(mel_chunks(np.zeros((80, 404)))) == 123  # 5.04 s, 126 frames
    with pytest.raises(ValueError, match="16"):
        mel_chunks(np.zeros((80, 15)))


def test_frame_mels_one_frame_per_chunk_or_per_video_frame():
    mel = np.random.default_rng(2).standard_normal((80, 65)).astype(np.float32)
    chunks = mel_chunks(mel)
    np.testing.assert_array_equal(frame_mels(mel, 20, "mel"), chunks)  # 17 < 20 video frames
    np.testing.assert_array_equal(frame_mels(mel, 5, "mel"), chunks[:5])  # audio longer than the video: cut
    np.testing.assert_array_equal(frame_mels(mel, 20, "mel", mel_shift=-2)[:4], chunks[[0, 0, 0, 1]])
    video = frame_mels(mel, 20, "video")
    assert video.shape == (20, 80, 16)
    np.testing.assert_array_equal(video[16], mel[:, 51:65][:, np.minimum(np.arange(16), 13)])  # edge padded


def test_pads_grow_the_box_and_clip_to_the_frame():
    boxes = np.array([[10, 20, 50, 60], [0, 0, 100, 75]])
    np.testing.assert_array_equal(pad_boxes(boxes, (0, 10, 0, 0), 100, 80), [[10, 20, 50, 70], [0, 0, 100, 80]])
    np.testing.assert_array_equal(pad_boxes(boxes, (5, 1, 3, 4), 100, 80), [[7, 15, 54, 61], [0, 0, 100, 76]])
    with pytest.raises(ValueError, match="empty box at frame 0"):
        pad_boxes(boxes, (0, -40, 0, 0), 100, 80)


def test_smoothing_is_the_release_in_place_window_mean_truncated():
    x = np.array([0, 10, 20, 30, 40, 50, 60])
    boxes = np.stack([x, x + 1, x + 2, x + 3], axis=1)
    # 0..2: mean of i..i+4; 3..6: mean of the last five, which by then hold boxes 2.. already smoothed
    # (3: 40,30,40,50,60 -> 44; 4: 40,44,40,50,60 -> 46.8 -> 46; 5: 40,44,46,50,60 -> 48; 6: 40,44,46,48,60 -> 47.6)
    expect = np.array([20, 30, 40, 44, 46, 48, 47])
    np.testing.assert_array_equal(smooth_boxes(boxes, 5)[:, 0], expect)
    np.testing.assert_array_equal(smooth_boxes(boxes, 5)[:, 3], [23, 33, 43, 47, 49, 51, 50])
    np.testing.assert_array_equal(smooth_boxes(boxes, 1), boxes)
    np.testing.assert_array_equal(boxes[:, 0], x)  # the input is not modified


def test_trained_preset_feeds_the_crops_our_training_script_uses(clip):
    from baselines.wav2lip.data import faces_96

    arrays, mel = clip
    seen = []

    class Recorder(torch.nn.Module):
        config = Wav2LipConfig(0.125, mel_shift=0)

        def forward(self, mel, faces):
            seen.append(faces[:, 3:].clone())  # the reference half: the unmasked face
            return faces[:, 3:]

    generate(Recorder(), arrays.frames, arrays.boxes, mel, InferenceConfig.trained(), crops=arrays.crops)
    ref = torch.from_numpy(faces_96(arrays.crops[:17])).permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(torch.cat(seen), ref, rtol=0, atol=0)
    with pytest.raises(ValueError, match="resize=crop"):
        InferenceConfig(resize="crop")  # the official pads/smoothing cannot apply to precomputed crops


def test_config_presets_and_options():
    official = InferenceConfig.official()
    assert (official.paste, official.resize, official.quantise, official.frames, official.pads, official.smooth) == (
        "box", "box", "truncate", "mel", (0, 10, 0, 0), 5)
    assert InferenceConfig.preset("official") == official
    ours = official.with_options({"paste": "feather", "quantise": "round", "frames": "video", "pads": "0,0,0,0",
                                  "smooth": "1", "batch": "8"})
    assert ours == InferenceConfig("feather", "box", "round", "video", (0, 0, 0, 0), 1)
    assert ours.describe() == "paste=feather resize=box quantise=round frames=video pads=0,0,0,0 smooth=1"
    for bad in ({"paste": "blend"}, {"pads": "0,10"}, {"smooth": "0"}):
        with pytest.raises(ValueError, match="wav2lip"):
            official.with_options(bad)
    with pytest.raises(ValueError, match="preset"):
        InferenceConfig.preset("paper")
