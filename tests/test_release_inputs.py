"""What the STSA release's inference.py feeds its networks, reproduced: channel order, landmark normalisation,
reference frames, uint8 conversion, paste-back and output length. Each expected value is computed here from the
release's rule as stated in its code (not from stsa-bench), on hand-made inputs where the old behaviour differs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stsa_tiny import face_landmarks, make_corpus

from stsa.data.clip import ClipData
from stsa.data.landmarks import LOWER_LIP_MID, UPPER_LIP_MID, select_references
from stsa.data.preprocess import face_bounds, face_boxes, normalise_landmarks

pytestmark = pytest.mark.usefixtures("single_thread")


# ------------------------------------------------------------------------------------------ 1. colour order
def test_networks_see_bgr_and_the_output_is_turned_back_to_rgb(dubber):
    """The release reads frames with cv2 (BGR) and never converts: a known RGB colour must reach the renderer as
    BGR, and a BGR output must come back as RGB."""
    rgb = np.array([200, 100, 50], np.uint8)
    crops = np.broadcast_to(rgb, (6, 128, 128, 3)).copy()
    seen = {}

    def spy_inputs(module, args, kwargs):
        seen["masked"] = args[0].detach().clone()  # (B,1,3,128,128)

    def blue_output(module, args, kwargs, out):
        out.image = torch.zeros_like(out.image)
        out.image[:, 0] = 1.0  # channel 0 = blue in BGR
        return out

    hooks = [dubber.renderer.register_forward_pre_hook(spy_inputs, with_kwargs=True),
             dubber.renderer.register_forward_hook(blue_output, with_kwargs=True)]
    try:
        out = dubber.dub_faces(crops, face_landmarks(6, np.random.default_rng(0)), np.arange(6.0),
                               np.zeros((4, 80, 16), np.float32))
    finally:
        for h in hooks:
            h.remove()
    upper = seen["masked"][0, 0, :, :64]  # (3,64,128), the unmasked half
    np.testing.assert_allclose(upper.mean(dim=(1, 2)).numpy(), rgb[::-1] / 255.0, atol=1e-6)
    assert (out[..., 2] == 255).all() and (out[..., :2] == 0).all()  # blue is RGB's third channel


def test_training_faces_are_bgr(tmp_path):
    from stsa.train.data import TrainingData

    root = make_corpus(tmp_path, n_clips=1, n_frames=8)
    clip = ClipData.load(root / "spk0" / "00001")
    data = TrainingData(root, "mel", split=None, n_ref=2)
    b = data.batch([(0, 1)])
    expected = torch.from_numpy(clip.crops[1:6, ..., ::-1].copy()).permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(b["faces"][0], expected)


# ------------------------------------------------------------------------------------------ 2. landmarks
def release_normalisation(points_px: np.ndarray, w: int, h: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """inference.py: mediapipe's normalised x, y; bounds min/max -+ 5 px clipped to [0, 1]; landmarks
    (x - x_min) / (x_max - x_min); crop y1, y2, x1, x2 = int(y_min * h), ..."""
    x, y = points_px[:, 0] / w, points_px[:, 1] / h
    x_min, x_max = max(x.min() - 5 / w, 0), min(x.max() + 5 / w, 1)
    y_min, y_max = max(y.min() - 5 / h, 0), min(y.max() + 5 / h, 1)
    norm = np.stack([(x - x_min) / (x_max - x_min), (y - y_min) / (y_max - y_min)], axis=1)
    return norm, (int(x_min * w), int(y_min * h), int(x_max * w), int(y_max * h))


@pytest.mark.parametrize("offset", [(60.3, 40.7), (2.2, 30.1), (250.5, 3.9)])  # inside, at the left/top edge
def test_landmark_normalisation_is_the_float_bounds_formula(offset):
    rng = np.random.default_rng(1)
    w, h = 320, 180
    pts = (rng.uniform(0, 1, (131, 2)) * [61.37, 77.91] + offset).astype(np.float32)  # (131,2) px
    pts[:, 0] = np.minimum(pts[:, 0], w - 0.5)
    expected, box = release_normalisation(pts.astype(np.float64), w, h)
    bounds = face_bounds(pts[None], w, h)
    np.testing.assert_allclose(normalise_landmarks(pts[None], bounds)[0], expected, atol=2e-6)
    assert tuple(face_boxes(bounds, w, h)[0]) == box
    # not the truncated box: normalising by the integer box moves points by up to a pixel of the crop
    x1, y1, x2, y2 = box
    by_box = (pts - [x1, y1]) / [x2 - x1, y2 - y1]
    assert np.abs(by_box - expected).max() * 128 > 0.2


def test_clip_cache_keeps_landmarks_as_float32(tmp_path):
    landmarks = np.full((2, 131, 2), 1 / 3, np.float64)
    ClipData(np.zeros((2, 128, 128, 3), np.uint8), np.zeros((2, 4), np.int32), landmarks, np.ones(2, bool),
             np.zeros((80, 9), np.float32)).save(tmp_path)
    (tmp_path / "status.json").write_text('{"status": "ok"}')
    assert ClipData.load(tmp_path).landmarks[0, 0, 0] == np.float32(1 / 3)  # float16 would give 0.33325


# ------------------------------------------------------------------------------------------ 3. references
def release_reference_indices(points_px: np.ndarray, w: int, h: int, n: int = 5) -> list[int]:
    """inference.py: dist = |(lm[0].x - lm[17].x, lm[0].y - lm[17].y)| in mediapipe's normalised coordinates,
    frames sorted by it, ``lip_dist_idx[int(i)] for i in torch.linspace(0, len - 1, steps=5)``."""
    dists = []
    for i, p in enumerate(points_px):
        dx = p[UPPER_LIP_MID, 0] / w - p[LOWER_LIP_MID, 0] / w
        dy = p[UPPER_LIP_MID, 1] / h - p[LOWER_LIP_MID, 1] / h
        dists.append((i, np.linalg.norm((dx, dy))))
    order = [i for i, _ in sorted(dists, key=lambda x: x[1])]
    return [int(order[int(i)]) for i in torch.linspace(0, len(order) - 1, steps=n)]


def test_reference_frames_follow_the_release_rule():
    """Full-frame normalised openness on a wide frame: x differences count 4x less than y differences, so the
    order differs from the pixel or crop-normalised one."""
    rng = np.random.default_rng(3)
    w, h, t = 640, 160, 23
    pts = np.tile(rng.uniform([100, 20], [300, 120], (1, 131, 2)), (t, 1, 1)).astype(np.float32)
    pts[:, UPPER_LIP_MID] = [200, 80]
    pts[:, LOWER_LIP_MID, 0] = 200 + rng.uniform(-30, 30, t)  # sideways (a turned head)
    pts[:, LOWER_LIP_MID, 1] = 80 + rng.uniform(0, 12, t)  # opening
    clip = ClipData(np.zeros((t, 128, 128, 3), np.uint8), np.zeros((t, 4), np.int32), np.zeros((t, 131, 2)),
                    np.ones(t, bool), np.zeros((80, 9)), points=pts, frame_size=np.array([h, w]))
    expected = release_reference_indices(pts, w, h)
    assert select_references(clip.openness).tolist() == expected
    crop_norm = normalise_landmarks(pts, face_bounds(pts, w, h))
    from stsa.data.landmarks import mouth_openness

    assert select_references(mouth_openness(crop_norm)).tolist() != expected  # the rule this replaces


# ------------------------------------------------------------------------------------------ 4. uint8
def test_output_is_truncated_as_the_release_and_rounding_is_an_option():
    from stsa.dub import to_uint8

    x = torch.full((1, 3, 2, 2), 254.7 / 255)
    assert (to_uint8(x, "truncate") == 254).all()  # np.float32(x * 255).astype(np.uint8)
    assert (to_uint8(x, "round") == 255).all()
    from stsa.config import STSAConfig

    assert STSAConfig.paper().inference.quantise == "truncate" and STSAConfig.paper().inference.paste == "contour"


# ------------------------------------------------------------------------------------------ 5. paste-back
def release_swap(frame: np.ndarray, face: np.ndarray, box, contour: np.ndarray) -> np.ndarray:
    """inference.py: the face resized into its box of a copy, then merge_face_contour_only / swap_masked_region:
    mask = fillConvexPoly(contour) blurred by GaussianBlur((21, 21), 11) over the whole frame, /255, blend,
    astype(uint8)."""
    import cv2

    x1, y1, x2, y2 = box
    pasted = frame.copy()
    pasted[y1:y2, x1:x2] = cv2.resize(face, (x2 - x1, y2 - y1))
    mask = np.zeros((frame.shape[0], frame.shape[1], 1), np.uint8)
    cv2.fillConvexPoly(mask, contour.astype(int), 255)
    m = np.tile(np.expand_dims(cv2.GaussianBlur(mask, (21, 21), 11) / 255, axis=2), (1, 1, 3))
    return (pasted * m + frame * (1 - m)).astype(np.uint8)


def test_paste_back_blends_inside_the_face_contour_only():
    import cv2

    from stsa.data.crops import paste_faces_contour

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1, 150, 190, 3), dtype=np.uint8)
    face = rng.integers(0, 256, (1, 128, 128, 3), dtype=np.uint8)
    box = np.array([[30, 20, 150, 140]])
    ang = np.linspace(0, 2 * np.pi, 45, endpoint=False)
    contour = np.stack([90 + 40 * np.cos(ang), 82 + 45 * np.sin(ang)], axis=1)[None]  # (1,45,2) px, inside the box
    out = paste_faces_contour(frame, face, box, contour)
    np.testing.assert_array_equal(out[0], release_swap(frame[0], face[0], box[0], np.trunc(contour[0])))
    # pixels more than the blur radius (10 px) outside the contour are the template's, bit for bit
    inside = np.zeros(frame.shape[1:3], np.uint8)
    cv2.fillConvexPoly(inside, np.trunc(contour[0]).astype(np.int32), 1)
    near = cv2.dilate(inside, np.ones((21, 21), np.uint8))
    np.testing.assert_array_equal(out[0][near == 0], frame[0][near == 0])
    box_only = np.zeros_like(near)
    box_only[20:140, 30:150] = 1
    assert ((box_only == 1) & (near == 0)).sum() > 1000  # inside the box, outside the face: kept
    core = cv2.erode(inside, np.ones((21, 21), np.uint8))
    pasted = cv2.resize(face[0], (120, 120))
    np.testing.assert_array_equal(out[0][core == 1], pasted[(core == 1)[20:140, 30:150]])


# ------------------------------------------------------------------------------------------ 6. length
def release_chunk_count(n_vectors: int, fps: float = 25.0) -> int:
    """inference.py's w2v chunk loop, verbatim in logic: one output frame per chunk."""
    mult, idx, chunks = 50.0 / fps, 0, 0
    while True:
        start = int((idx - 2) * mult)
        if n_vectors - max(0, start) < 2 * mult:
            break
        chunks += 1
        idx += 1
    return chunks


def test_output_length_is_the_wav2vec_chunk_count():
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from stsa.data.audio import output_frame_count

    model = Wav2Vec2Model(Wav2Vec2Config(num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                                         intermediate_size=32))
    lengths = [1200, 16000, 16100, 16321, 31999, 32000, 40000, 40111, 48000, 99999, 191999]
    for n in lengths:
        n_vectors = int(model._get_feat_extract_output_lengths(torch.tensor(n)))  # transformers' own arithmetic
        assert output_frame_count(n) == release_chunk_count(n_vectors), n
    assert [output_frame_count(n) for n in (16100, 40000)] == [26, 63]  # round(25 * n / 16000) = 25, 62
    assert all(output_frame_count(k * 640) == k for k in range(3, 400))  # a clip's own audio: its length


def test_dub_writes_one_frame_per_chunk(dubber, tmp_path):
    import soundfile as sf

    from stsa.data.audio import output_frame_count
    from stsa.data.video import probe
    from stsa.dub import Template

    root = make_corpus(tmp_path / "pre", n_clips=1, n_frames=8)
    clip = ClipData.load(root / "spk0" / "00001")
    frames = np.zeros((8, 148, 148, 3), np.uint8)
    frames[:, 10:138, 10:138] = clip.crops
    wav = tmp_path / "a.wav"
    sf.write(wav, np.random.default_rng(0).normal(0, 0.1, 16100), 16000)  # round(25 * n / 16000) = 25
    tpl = Template(frames, clip.crops, clip.boxes, clip.landmarks, clip.points, clip.openness)
    info = dubber.dub(tpl, wav, tmp_path / "out.mp4")
    assert info["frames"] == output_frame_count(16100) == 26 == probe(tmp_path / "out.mp4").n_frames


def test_a_template_at_another_frame_rate_is_converted_with_the_release_command(tmp_path, monkeypatch):
    """inference.py: ``ffmpeg -y -i VIDEO -r 25 temp_25fps.avi`` (its frame selection differs from the fps filter
    the preprocessing uses: for the release's 30 fps demo template 227 frames instead of 225)."""
    import stsa.data.video as video_io
    from stsa.dub import read_template
    from stsa.errors import NoFaceError

    src = tmp_path / "t30.mp4"
    video_io.write_video(src, np.zeros((12, 64, 64, 3), np.uint8), fps=30)
    calls, real = [], video_io.run_ffmpeg
    monkeypatch.setattr(video_io, "run_ffmpeg", lambda args, s: (calls.append(args), real(args, s))[1])
    with pytest.raises(NoFaceError):
        read_template(src)
    assert calls[0][:4] == ["-i", str(src), "-r", "25"] and calls[0][4].endswith(".avi") and len(calls[0]) == 5
    calls.clear()
    with pytest.raises(NoFaceError):
        read_template(src, resample="filter")
    assert "fps=25" in calls[0]
