"""`stsa-bench dub`: dub a template video with new audio using STSA, batched.

Same frame order as the release: output frame i uses the 5-frame window of audio windows i-2..i+2 (zeros outside
the audio) over the template frames ``seq[max(0, j)]``, where ``seq`` loops the template forward then backward; the
guidance stage's centre prediction (clamped to 1) is rendered on template frame ``seq[i]`` (rows 64-127 zeroed),
with 5 references sorted by mouth openness at ``linspace(0, n-1, 5)``. Unlike the release, every window of a chunk
runs in one guidance batch, heatmaps are rendered and pose-encoded once per template frame, audio windows are
encoded once, only the centre slot of each window is decoded (no keypoint heads), everything computed from the
references alone (both stages' reference encoders, the renderer's reference features) once per video, the renderer
is batched and no loss network (VGG19, CIL bound) runs.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HALF_WINDOW = 2  # window = frames i-2 .. i+2


@dataclass
class Template:
    """A template video's faces at 25 fps (n frames)."""

    frames: np.ndarray  # (n,H,W,3) uint8 RGB full frames
    crops: np.ndarray  # (n,128,128,3) uint8 RGB
    boxes: np.ndarray  # (n,4) int x1,y1,x2,y2
    landmarks: np.ndarray  # (n,131,2) float32, normalised by the release's float face bounds
    points: np.ndarray  # (n,131,2) float32 the same landmarks in frame pixels
    openness: np.ndarray  # (n,) mouth openness in full-frame normalised coordinates (reference selection)

    @classmethod
    def from_clip(cls, clip) -> Template:
        """A preprocessed clip (stsa.data.clip.ClipData) as the template: its video.mp4 frames and arrays."""
        from stsa.data.video import read_frames

        return cls(read_frames(clip.video_path), clip.crops, clip.boxes, np.asarray(clip.landmarks, np.float32),
                   np.asarray(clip.points, np.float32), clip.openness)


def frame_sequence(n_template: int, n_out: int) -> np.ndarray:
    """Release looping: 0..n-1, n-1..0, 0..n-1, ... long enough for ``n_out`` frames: (n_out,) int."""
    one = np.concatenate([np.arange(n_template), np.arange(n_template)[::-1]])
    reps = n_out // len(one) + 1
    return np.tile(one, reps)[:n_out]


def window_indices(n_out: int, t: int = 5) -> np.ndarray:
    """(n_out, t) audio-window index j = i-2..i+2 for each output frame i (may be <0 or >= n_out)."""
    return np.arange(n_out)[:, None] + np.arange(t)[None, :] - HALF_WINDOW


def read_template(video: str | Path, margin_px: float = 5.0, resample: str = "release") -> Template:
    """Decode a template at 25 fps, FaceMesh every frame, the release's face bounds, crop boxes and landmark
    normalisation (stsa.data.preprocess). Another frame rate is converted the release's way (``resample="release"``:
    ``ffmpeg -r 25`` to mpeg4 avi) or with the preprocessing's fps filter (``"filter"``).

    Raises MediaError for unreadable files and NoFaceError when no frame has a face; short gaps are interpolated.
    """
    import tempfile

    from stsa.data.crops import crop_faces
    from stsa.data.facemesh import FaceMeshDetector
    from stsa.data.landmarks import mouth_openness, select_131
    from stsa.data.preprocess import face_bounds, face_boxes, interpolate_missing, normalise_landmarks
    from stsa.data.video import FPS, normalise_video, probe, read_frames, run_ffmpeg
    from stsa.errors import MediaError, NoFaceError

    video = Path(video)
    info = probe(video)
    if not info.has_video:
        raise MediaError(video, "no video stream", "pass a video (or image sequence encoded as video)")
    if info.fps is not None and abs(info.fps - FPS) < 1e-3:
        frames = read_frames(video)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            if resample == "release":  # inference.py: ffmpeg -y -i VIDEO -r 25 temp_25fps.avi
                dst = Path(tmp) / "temp_25fps.avi"
                run_ffmpeg(["-i", str(video), "-r", str(FPS), str(dst)], video)
            else:
                dst = Path(tmp) / "template_25fps.mp4"
                normalise_video(video, dst, FPS)
            frames = read_frames(dst)
    with FaceMeshDetector() as det:
        mesh, found = det.detect_many(frames)
    if not found.any():
        raise NoFaceError(video, "no face found in any frame", "use a template video showing one frontal face")
    points = interpolate_missing(select_131(mesh), found)
    h, w = frames.shape[1:3]
    bounds = face_bounds(points, w, h, margin_px)
    boxes = face_boxes(bounds, w, h)
    openness = mouth_openness(points.astype(np.float64) / np.array([w, h], np.float64))
    return Template(frames, crop_faces(frames, boxes), boxes, normalise_landmarks(points, bounds), points, openness)


def audio_features(audio: str | Path, frontend: str) -> tuple[np.ndarray, int]:
    """Per-output-frame audio windows (n_out, A, W) for a wav of any length, and n_out: the release's frame count
    (one frame per wav2vec chunk, ``stsa.data.audio.output_frame_count``) for both front ends."""
    from stsa.data.audio import load_wav, mel_windows, melspectrogram, output_frame_count, wav2vec_windows
    from stsa.errors import MediaError

    wav = load_wav(audio)
    n_out = output_frame_count(len(wav))
    if n_out < 1:
        raise MediaError(audio, "audio too short for one video frame (the release needs >= 3 frames, 120 ms)",
                         "pass a longer audio file")
    if frontend == "mel":
        return mel_windows(melspectrogram(wav), n_out).astype(np.float32), n_out
    from stsa.data.preprocess import wav2vec_features
    from stsa.weights import resolve

    feats = wav2vec_features(wav, resolve("wav2vec2_base_960h"))
    return wav2vec_windows(feats, n_out).astype(np.float32), n_out


def to_uint8(images, mode: str) -> np.ndarray:
    """(B,3,H,W) float in [0,1] (torch) -> (B,H,W,3) uint8: ``truncate`` as the release's ``astype(uint8)``, or
    ``round``."""
    x = images.float().clamp(0, 1) * 255
    if mode == "round":
        x = x.round()
    return x.byte().permute(0, 2, 3, 1).cpu().numpy()


class Dubber:
    """Both STSA stages in eval mode on one device; ``dub_faces`` is the batched inference core."""

    def __init__(self, guidance, renderer, cfg, device=None, half: bool = False, chunk: int = 16):
        import torch

        from stsa.device import resolve_device

        self.device = resolve_device(device) if not isinstance(device, torch.device) else device
        self.dtype = torch.float16 if (half and self.device.type == "cuda") else torch.float32
        self.guidance = guidance.to(self.device, self.dtype).eval()
        self.renderer = renderer.to(self.device, self.dtype).eval()
        self.cfg = cfg
        self.chunk = chunk

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path | None, device=None, half: bool = False) -> Dubber:
        """A fine-tuned (or merged: `stsa-bench train --stage finetune --ablation no_ft`) stsa-bench checkpoint
        holding both stages; ``None`` = the released STSA weights (stsa.weights ``stsa_heatmap`` + ``stsa_face``,
        paper preset; WeightsError when missing)."""
        from stsa.model import FaceRenderer, GuidancePredictor

        if checkpoint is None:
            from stsa.config import STSAConfig
            from stsa.model import STSA, load_release_weights
            from stsa.weights import resolve

            heatmap_path, face_path = resolve("stsa_heatmap"), resolve("stsa_face")  # fail before building
            model = load_release_weights(STSA(STSAConfig.paper()), heatmap_path, face_path)
            return cls(model.guidance, model.renderer, model.cfg, device, half)
        from stsa.errors import WeightsError
        from stsa.train.checkpoint import config_from_dict, load_checkpoint

        ckpt = load_checkpoint(checkpoint)
        cfg = config_from_dict(ckpt["config"])
        models = ckpt["models"]
        if "guidance" not in models or "renderer" not in models:
            raise WeightsError(checkpoint, f"holds only {sorted(models)}; dubbing needs both stages",
                               "pass the fine-tuned checkpoint (or merge the two stages without fine-tuning: "
                               "`stsa-bench train --stage finetune --ablation no_ft --init GUIDANCE --init "
                               "SYNTHESIS`)")
        guidance, renderer = GuidancePredictor(cfg), FaceRenderer(cfg)
        guidance.load_state_dict(models["guidance"])
        renderer.load_state_dict(models["renderer"])
        return cls(guidance, renderer, cfg, device, half)

    def dub_faces(self, crops: np.ndarray, landmarks: np.ndarray, openness: np.ndarray, audio: np.ndarray,
                  progress: bool = False) -> np.ndarray:
        """Template crops (n,128,128,3) uint8 RGB + landmarks (n,131,2) + mouth openness (n,) + audio windows
        (n_out,A,W) -> generated faces (n_out,128,128,3) uint8 RGB (the networks see BGR, as the release's)."""
        import torch
        from tqdm import tqdm

        from stsa.data.heatmaps import render_heatmaps
        from stsa.data.landmarks import select_references

        t, dev, dt = self.cfg.T, self.device, self.dtype
        n_out = len(audio)
        seq = frame_sequence(len(crops), n_out + t)  # windows reach past the last output frame
        win = window_indices(n_out, t)  # (n_out,T)
        refs = select_references(openness, self.cfg.n_ref)
        pose_hm = torch.from_numpy(render_heatmaps(landmarks, "pose")).to(dev, dt)[:, None]  # (n,1,128,128)
        ref_hm = torch.from_numpy(render_heatmaps(landmarks[refs], "face")).to(dev, dt)[None, :, None]  # (1,N,1,..)
        faces = torch.from_numpy(np.ascontiguousarray(crops[..., ::-1])).to(dev).permute(0, 3, 1, 2)  # (n,3,..) BGR
        ref_faces = faces[refs].to(dt)[None] / 255.0  # (1,N,3,128,128)
        used = np.unique(seq[np.maximum(win, 0)])  # template frames some window shows
        audio_t = torch.from_numpy(np.concatenate([audio, np.zeros((1, *audio.shape[1:]), audio.dtype)]))
        audio_t = audio_t.to(dev, dt)  # last row = zero window for out-of-range j
        out = np.empty((n_out, *crops.shape[1:]), np.uint8)
        half = faces.shape[-2] // 2
        with torch.inference_mode():
            # once per video: reference encodings of both stages, pose tokens of every template frame used
            ref_codes = self.guidance.encode_references(ref_hm)  # (1,N,D)
            pose_codes = torch.zeros(len(crops), ref_codes.size(-1), device=dev, dtype=dt)  # (n,D)
            for s in range(0, len(used), self.chunk * t):
                u = used[s:s + self.chunk * t]
                pose_codes[u] = self.guidance.encode_poses(pose_hm[u])
            audio_codes = torch.cat([self.guidance.encode_audio(audio_t[s:s + self.chunk * t])
                                     for s in range(0, len(audio_t), self.chunk * t)])  # (n_out+1,D)
            references = self.renderer.encode_references(ref_faces, ref_hm.expand(-1, -1, 3, -1, -1))
            for s in tqdm(range(0, n_out, self.chunk), disable=not progress, desc="dub"):
                i = np.arange(s, min(s + self.chunk, n_out))
                j = win[i]  # (b,T)
                a_idx = np.where((j < 0) | (j >= n_out), n_out, j)
                f_idx = seq[np.maximum(j, 0)]  # template frame per window slot
                centre = self.guidance.slot_heatmaps(audio_codes[a_idx], pose_codes[f_idx], ref_codes,
                                                     pose_hm[f_idx[:, HALF_WINDOW]], HALF_WINDOW)
                centre = centre.clamp(max=1.0)  # (b,1,128,128)
                masked = faces[seq[i]].to(dt) / 255.0
                masked[:, :, half:] = 0
                r = self.renderer(masked[:, None], centre.expand(-1, 3, -1, -1)[:, None], None, None,
                                  audio_t[i][:, None], references=references, with_cil=False)
                out[i] = to_uint8(r.image, self.cfg.inference.quantise)[..., ::-1]  # BGR -> RGB
        return out

    def dub_faces_framewise(self, crops: np.ndarray, landmarks: np.ndarray, openness: np.ndarray,
                            audio: np.ndarray, run_perceptual: bool = True) -> np.ndarray:
        """The release's execution order, kept as the reference for ``dub_faces``: per output frame, heatmaps of
        the 5-frame window rendered, stage 1 on that one window, the renderer on one frame, and (like the
        release's forward) the VGG19 perceptual loss of the output against the input face when the renderer
        holds one. Same inputs and weights -> same faces as ``dub_faces``."""
        import torch

        from stsa.data.heatmaps import render_heatmaps
        from stsa.data.landmarks import select_references

        t, dev, dt = self.cfg.T, self.device, self.dtype
        n_out = len(audio)
        seq = frame_sequence(len(crops), n_out + t)
        perceptual = getattr(self.renderer, "perceptual", None) if run_perceptual else None
        out = np.empty((n_out, *crops.shape[1:]), np.uint8)
        zeros = np.zeros(audio.shape[1:], audio.dtype)
        bgr = np.ascontiguousarray(crops[..., ::-1])  # the networks see BGR
        with torch.inference_mode():
            refs = select_references(openness, self.cfg.n_ref)
            ref_hm = torch.from_numpy(render_heatmaps(landmarks[refs], "face")).to(dev, dt)[None, :, None]
            ref_faces = torch.from_numpy(bgr[refs]).to(dev, dt).permute(0, 3, 1, 2)[None] / 255.0
            for i in range(n_out):
                js = range(i - HALF_WINDOW, i - HALF_WINDOW + t)
                a = np.stack([audio[j] if 0 <= j < n_out else zeros for j in js])
                frames = [int(seq[max(0, j)]) for j in js]
                pose = torch.from_numpy(render_heatmaps(landmarks[frames], "pose")).to(dev, dt)[None, :, None]
                heat, _ = self.guidance(torch.from_numpy(a).to(dev, dt)[None], pose, ref_hm)
                centre = heat[HALF_WINDOW:HALF_WINDOW + 1].clamp(max=1.0)  # (1,1,128,128)
                face = torch.from_numpy(bgr[seq[i]]).to(dev, dt).permute(2, 0, 1)[None] / 255.0
                masked = face.clone()
                masked[:, :, face.shape[-2] // 2:] = 0
                r = self.renderer(masked[:, None], centre.expand(-1, 3, -1, -1)[:, None], ref_faces,
                                  ref_hm.expand(-1, -1, 3, -1, -1),
                                  torch.from_numpy(audio[i]).to(dev, dt)[None, None])
                if perceptual is not None:
                    perceptual(r.image, face)
                out[i] = to_uint8(r.image, self.cfg.inference.quantise)[0, ..., ::-1]
        return out

    def dub(self, template: Template, audio_path: str | Path, out: str | Path,
            crop_out: str | Path | None = None, progress: bool = False) -> dict:
        """Dub ``template`` with ``audio_path``; write the full-frame video (and the 128x128 crop video)."""
        from stsa.data.crops import paste_faces, paste_faces_contour
        from stsa.data.landmarks import PASTE_CONTOUR
        from stsa.data.video import write_video

        t0 = time.perf_counter()
        windows, n_out = audio_features(audio_path, self.cfg.audio)
        gen = self.dub_faces(template.crops, template.landmarks, template.openness, windows, progress)
        t_model = time.perf_counter() - t0
        seq = frame_sequence(len(template.crops), n_out)
        if crop_out is not None:
            write_video(crop_out, gen, audio=audio_path)
        if self.cfg.inference.paste == "contour":
            full = paste_faces_contour(template.frames[seq], gen, template.boxes[seq],
                                    template.points[seq][:, list(PASTE_CONTOUR)])
        else:
            full = paste_faces(template.frames[seq], gen, template.boxes[seq])
        write_video(out, full, audio=audio_path)
        return {"frames": n_out, "model_s": round(t_model, 3), "total_s": round(time.perf_counter() - t0, 3),
                "fps": round(n_out / max(t_model, 1e-9), 3)}


def register(subparsers) -> None:
    p = subparsers.add_parser("dub", help="dub a template video with new audio using STSA",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--video", type=Path, required=True, help="template video (any fps, one face)")
    p.add_argument("--audio", type=Path, required=True, help="driving audio (any format ffmpeg/soundfile reads)")
    p.add_argument("--out", type=Path, required=True, help="full-frame output video (.mp4)")
    p.add_argument("--crop-out", type=Path, help="also write the 128x128 face crop video here")
    p.add_argument("--checkpoint", type=Path,
                   help="stsa-bench fine-tuned checkpoint (default: the released STSA weights)")
    p.add_argument("--random-weights", choices=("demo", "paper"),
                   help="smoke test only: randomly initialised model of this preset (outputs are noise)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--half", action="store_true", help="float16 on CUDA (ignored on CPU)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; 1 is faster on a busy CPU)")
    p.set_defaults(func=run)


def _audio_as_wav(audio: Path, tmp: Path) -> Path:
    """Any audio (or a video's audio track) -> 16 kHz mono wav (soundfile-readable files pass through)."""
    import soundfile as sf

    from stsa.data.audio import extract_wav

    try:
        sf.info(str(audio))
        return audio
    except (RuntimeError, sf.LibsndfileError):
        dst = tmp / "audio.wav"
        extract_wav(audio, dst)
        return dst


def run(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from stsa.errors import MediaError

    if not args.audio.is_file():
        raise MediaError(args.audio, "audio file not found", "check the path")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.random_weights:
        import torch

        from stsa.config import STSAConfig
        from stsa.model import FaceRenderer, GuidancePredictor

        torch.manual_seed(0)
        cfg = getattr(STSAConfig, args.random_weights)()
        dubber = Dubber(GuidancePredictor(cfg), FaceRenderer(cfg), cfg, args.device, args.half)
    else:
        dubber = Dubber.from_checkpoint(args.checkpoint, args.device, args.half)
    template = read_template(args.video, resample=dubber.cfg.inference.resample)
    with tempfile.TemporaryDirectory() as tmp:
        audio = _audio_as_wav(args.audio, Path(tmp))
        info = dubber.dub(template, audio, args.out, args.crop_out, progress=True)
    print(json.dumps({"out": str(args.out), "crop_out": str(args.crop_out) if args.crop_out else None, **info}))
    return 0
