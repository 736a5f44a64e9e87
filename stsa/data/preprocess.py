"""Preprocessing (``stsa-bench preprocess``): 25 fps video, 16 kHz mono audio, FaceMesh crops/landmarks, mel,
optional wav2vec 2.0 features, written as the clip cache of ARCHITECTURE.md.

Per-clip work never raises for bad input: it writes ``status.json`` with ``status="rejected"`` and the reason.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from stsa.data.clip import (
    ARRAYS_FILE,
    AUDIO_FILE,
    STATUS_FIELDS,
    STATUS_FILE,
    VIDEO_FILE,
    ClipData,
    write_status,
)
from stsa.data.datasets import Clip
from stsa.errors import MediaError, StsaBenchError

MANIFEST = "manifest.csv"
TMP_EXTRACT = "tmp.extract.wav"  # audio as decoded by ffmpeg, before cut/pad


@dataclass(frozen=True)
class PreprocessConfig:
    fps: int = 25
    sample_rate: int = 16000
    crop_size: int = 128
    margin_px: float = 5.0  # added around the 131 landmarks (release: 5 px)
    max_gap: int = 5  # longest run of face-less frames that is interpolated
    max_missing: float = 0.2  # largest fraction of face-less frames
    min_frames: int = 25  # shorter clips are rejected (LRS2 convention)
    wav2vec_dir: Path | None = None  # local facebook/wav2vec2-base-960h directory; None = skip wav2vec
    silence_dbfs: float = -60.0  # audio whose peak is below this is rejected as silent
    device: str | None = None  # wav2vec device (None = CUDA when available)


class _Rejected(Exception):
    """Internal: reject the clip with this reason."""


# ------------------------------------------------------------------------------------------ geometry


def interpolate_missing(points: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Fill frames with ``found`` False linearly between the nearest found frames (edges extended).

    points (T, ...) float with any values at missing frames; found (T,) bool with at least one True.
    """
    t = len(found)
    idx = np.arange(t)
    prev = np.maximum.accumulate(np.where(found, idx, -1))
    nxt = np.minimum.accumulate(np.where(found, idx, t)[::-1])[::-1]
    prev = np.where(prev < 0, nxt, prev)
    nxt = np.where(nxt >= t, prev, nxt)
    w = np.where(nxt > prev, (idx - prev) / np.maximum(nxt - prev, 1), 0.0)
    w = w.reshape((t,) + (1,) * (points.ndim - 1))
    out = points.astype(np.float32, copy=True)
    miss = ~found
    out[miss] = ((1 - w) * points[prev] + w * points[nxt])[miss]
    return out


def longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in a (T,) bool array."""
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def face_bounds(points: np.ndarray, width: int, height: int, margin: float = 5.0) -> np.ndarray:
    """(T, N, 2) pixel landmarks -> (T, 4) float64 face bounds x_min, y_min, x_max, y_max in pixels, as the release:
    min/max of the landmarks -+ ``margin`` px, clipped to the frame (not rounded)."""
    p = np.asarray(points, np.float64)
    size = np.array([width, height], np.float64)
    lo = np.maximum(p.min(axis=1) - margin, 0.0)
    hi = np.minimum(p.max(axis=1) + margin, size)
    return np.concatenate([lo, hi], axis=1)


def face_boxes(bounds: np.ndarray, width: int, height: int) -> np.ndarray:
    """(T, 4) float bounds -> (T, 4) int32 crop boxes x1, y1, x2, y2 (end exclusive): the release's ``int()``
    truncation, kept at least 1 px wide inside the frame."""
    size = np.array([width, height], np.float64)
    lo = np.minimum(np.floor(bounds[:, :2]), size - 1)
    hi = np.maximum(np.floor(bounds[:, 2:]), lo + 1)
    return np.concatenate([lo, hi], axis=1).astype(np.int32)


def normalise_landmarks(points: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(T, N, 2) pixel landmarks, (T, 4) float bounds -> (T, N, 2) float32 ``(p - min) / (max - min)``: the
    release's normalisation by the float bounds (not by the truncated crop box, not clipped)."""
    lo, hi = bounds[:, None, :2], bounds[:, None, 2:]
    return ((np.asarray(points, np.float64) - lo) / (hi - lo)).astype(np.float32)


# ------------------------------------------------------------------------------------------ wav2vec

_W2V_CACHE: dict[tuple[str, str], object] = {}


def wav2vec_features(wav: np.ndarray, model_dir: str | Path, device: str | None = None) -> np.ndarray:
    """Last hidden state of a local wav2vec 2.0 model: 16 kHz mono (S,) -> (N, hidden) float32 at 50 Hz.

    Input normalised to zero mean, unit variance as Wav2Vec2Processor (do_normalize=True) does. A missing or
    unloadable model raises WeightsError naming the directory.
    """
    import torch

    from stsa.device import resolve_device
    from stsa.errors import WeightsError

    dev = resolve_device(device)
    key = (str(Path(model_dir).resolve()), str(dev))
    model = _W2V_CACHE.get(key)
    if model is None:
        try:
            from transformers import Wav2Vec2Model

            model = Wav2Vec2Model.from_pretrained(str(model_dir), local_files_only=True).eval().to(dev)
        except (OSError, ValueError, ImportError) as exc:
            raise WeightsError(model_dir, f"cannot load wav2vec 2.0 ({str(exc).splitlines()[0][:200]})",
                               "point --wav2vec / wav2vec_dir at a local facebook/wav2vec2-base-960h "
                               "directory (config.json + weights), see `stsa-bench weights`") from exc
        _W2V_CACHE[key] = model
    x = np.asarray(wav, np.float32)
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    with torch.inference_mode():
        out = model(torch.from_numpy(x)[None].to(dev)).last_hidden_state[0]
    return out.float().cpu().numpy()


# ------------------------------------------------------------------------------------------ one clip


def _empty_status(clip: Clip) -> dict:
    status = dict.fromkeys(STATUS_FIELDS)
    status.update(clip=clip.clip_id, status="rejected", reason="", n_frames=0, interpolated_frames=0,
                  source_video=str(clip.video),
                  source_audio=str(clip.audio if clip.audio is not None else clip.video),
                  split=clip.split, wav2vec="not requested")
    return status


def _video_to_25fps(src: Path, dst: Path, fps_in: float | None, fps: int) -> None:
    """Copy the video stream when it already runs at ``fps`` (no re-encoding), else re-encode at ``fps``."""
    from stsa.data.video import normalise_video, run_ffmpeg

    if fps_in is not None and abs(fps_in - fps) < 1e-3:
        try:
            run_ffmpeg(["-i", str(src), "-map", "0:v:0", "-an", "-sn", "-dn", "-c:v", "copy", str(dst)], src)
            return
        except MediaError:  # codec not storable in mp4: re-encode below
            dst.unlink(missing_ok=True)
    normalise_video(src, dst, fps)


def _process(clip: Clip, clip_dir: Path, cfg: PreprocessConfig, detector, status: dict) -> None:
    import soundfile as sf

    from stsa.data.audio import extract_wav, load_wav, melspectrogram
    from stsa.data.crops import crop_faces
    from stsa.data.landmarks import select_131
    from stsa.data.video import probe, read_frames

    video_src = Path(clip.video)
    audio_src = Path(clip.audio) if clip.audio is not None else video_src
    for path, what in ((video_src, "video"), (audio_src, "audio")):
        if not path.is_file():
            raise _Rejected(f"{path}: {what} file not found (listed in the split file but absent)")

    info = probe(video_src)
    if not info.has_video:
        raise _Rejected(f"{video_src}: no video stream")
    ainfo = info if audio_src == video_src else probe(audio_src)
    status.update(fps_in=info.fps, duration_video=info.duration, sample_rate_in=ainfo.audio_rate,
                  channels_in=ainfo.audio_channels)
    if not ainfo.has_audio:
        hint = "pass a separate audio file" if audio_src == video_src else "pass an audio file"
        raise _Rejected(f"{audio_src}: no audio track ({hint})")

    # video -> 25 fps, decoded once
    tmp_video = clip_dir / ("tmp." + VIDEO_FILE)
    _video_to_25fps(video_src, tmp_video, info.fps, cfg.fps)
    frames = read_frames(tmp_video)  # (T,H,W,3) uint8
    n, height, width = frames.shape[:3]
    status.update(n_frames=n, fps_out=cfg.fps)
    if n < cfg.min_frames:
        raise _Rejected(f"{video_src}: too short ({n} frames at {cfg.fps} fps < {cfg.min_frames})")

    # audio -> 16 kHz mono, cut/padded to the video
    tmp_wav = clip_dir / TMP_EXTRACT
    extract_wav(audio_src, tmp_wav, cfg.sample_rate)
    wav = load_wav(tmp_wav, cfg.sample_rate)
    tmp_wav.unlink()
    status["duration_audio"] = round(len(wav) / cfg.sample_rate, 6)
    peak = float(np.abs(wav).max(initial=0.0))
    peak_db = 20 * np.log10(max(peak, 1e-10))
    if peak_db < cfg.silence_dbfs:
        raise _Rejected(f"{audio_src}: silent audio (peak {peak_db:.0f} dBFS < {cfg.silence_dbfs:.0f} dBFS)")
    n_samples = int(round(n * cfg.sample_rate / cfg.fps))
    wav = np.pad(wav[:n_samples], (0, max(0, n_samples - len(wav))))
    tmp_audio = clip_dir / ("tmp." + AUDIO_FILE)
    sf.write(str(tmp_audio), wav, cfg.sample_rate, subtype="PCM_16")

    # faces
    mesh, found = detector.detect_many(frames)  # (T,478,2) px, (T,)
    status["detection_rate"] = round(float(found.mean()), 4)
    if not found.any():
        raise _Rejected(f"{video_src}: no face found in any frame")
    missing, gap = 1.0 - float(found.mean()), longest_run(~found)
    if missing > cfg.max_missing or gap > cfg.max_gap:
        raise _Rejected(f"{video_src}: no face in {missing:.0%} of frames (longest gap {gap} frames; allowed "
                        f"{cfg.max_missing:.0%} and gaps of {cfg.max_gap})")
    points = interpolate_missing(select_131(mesh), found)  # (T,131,2) px
    status["interpolated_frames"] = int((~found).sum())
    bounds = face_bounds(points, width, height, cfg.margin_px)
    boxes = face_boxes(bounds, width, height)
    audio = load_wav(tmp_audio, cfg.sample_rate)  # exactly what audio.wav holds
    data = ClipData(crops=crop_faces(frames, boxes, cfg.crop_size), boxes=boxes,
                    landmarks=normalise_landmarks(points, bounds), detected=found, mel=melspectrogram(audio),
                    points=points, frame_size=np.array([height, width], np.int32))
    if cfg.wav2vec_dir is not None:
        try:
            data.wav2vec = wav2vec_features(audio, cfg.wav2vec_dir, cfg.device)
            status["wav2vec"] = "ok"
        except StsaBenchError as exc:
            status["wav2vec"] = f"unavailable ({exc})"
        except Exception as exc:  # noqa: BLE001 - optional features never reject a clip
            status["wav2vec"] = f"unavailable ({type(exc).__name__}: {exc})"
    else:
        status["wav2vec"] = "unavailable (no wav2vec_dir given)"
    data.save(clip_dir)
    os.replace(tmp_video, clip_dir / VIDEO_FILE)
    os.replace(tmp_audio, clip_dir / AUDIO_FILE)


def preprocess_clip(clip: Clip, out_dir: Path, cfg: PreprocessConfig | None = None, detector=None) -> dict:
    """Preprocess one clip into its clip directory ``out_dir``; return the status row (also in status.json).

    Never raises for bad input. ``detector`` (a FaceMeshDetector) may be shared across clips.
    """
    cfg = cfg or PreprocessConfig()
    clip_dir = Path(out_dir)
    clip_dir.mkdir(parents=True, exist_ok=True)
    outputs = [clip_dir / f for f in (VIDEO_FILE, AUDIO_FILE, ARRAYS_FILE, STATUS_FILE,
                                      "tmp." + VIDEO_FILE, "tmp." + AUDIO_FILE, TMP_EXTRACT)]
    for f in outputs:
        f.unlink(missing_ok=True)
    status = _empty_status(clip)
    own_detector = detector is None
    try:
        if own_detector:
            from stsa.data.facemesh import FaceMeshDetector

            detector = FaceMeshDetector()
        _process(clip, clip_dir, cfg, detector, status)
        status["status"] = "ok"
    except _Rejected as exc:
        status["reason"] = str(exc)
    except StsaBenchError as exc:
        status["reason"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - per-clip work must not sink the run
        status["reason"] = f"{clip.video}: unexpected {type(exc).__name__}: {exc}"
    finally:
        if own_detector and detector is not None:
            detector.close()
    if status["status"] != "ok":
        for f in outputs:
            f.unlink(missing_ok=True)
    write_status(clip_dir, status)
    return status


# ------------------------------------------------------------------------------------------ dataset


def write_manifest(out: str | Path, rows: list[dict]):
    """Write ``<out>/manifest.csv`` (one row per clip: status fields + split); returns the DataFrame.

    Rows of clips already in an existing manifest are replaced, other rows are kept (e.g. other splits).
    """
    import pandas as pd

    path = Path(out) / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    new = pd.DataFrame(rows)
    columns = [*STATUS_FIELDS, "split", "wav2vec"]
    if path.is_file():
        old = pd.read_csv(path, dtype={"clip": str})
        if not new.empty:
            old = old[~old["clip"].isin(new["clip"])]
        new = pd.concat([old, new], ignore_index=True)
    new = new.reindex(columns=[*columns, *[c for c in new.columns if c not in columns]])
    tmp = path.with_suffix(".csv.tmp")
    new.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return new


def preprocess_dataset(dataset: str, root: str | Path, out: str | Path, split: str = "test",
                       limit: int | None = None, cfg: PreprocessConfig | None = None, progress: bool = False,
                       **layout):
    """Preprocess ``limit`` clips of ``split`` into ``<out>/<clip_id>/``; writes and returns the manifest rows
    of this run (DataFrame). A missing root/split file raises DatasetError; bad clips become rejected rows."""
    import pandas as pd

    from stsa.data.datasets import open_dataset
    from stsa.data.facemesh import FaceMeshDetector

    cfg = cfg or PreprocessConfig()
    clips = open_dataset(dataset, Path(root), **layout).clips(split, limit)
    out = Path(out)
    rows = []
    with FaceMeshDetector() as detector:
        iterator = clips
        if progress:
            from tqdm import tqdm

            iterator = tqdm(clips, desc=f"preprocess {dataset}/{split}", unit="clip")
        for clip in iterator:
            rows.append(preprocess_clip(clip, out / clip.clip_id, cfg, detector))
    write_manifest(out, rows)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------ CLI


def _config_from_args(args: argparse.Namespace) -> PreprocessConfig:
    cfg = PreprocessConfig()
    if getattr(args, "max_missing", None) is not None:
        cfg = replace(cfg, max_missing=args.max_missing)
    if getattr(args, "wav2vec", None):
        cfg = replace(cfg, wav2vec_dir=Path(args.wav2vec))
    return cfg


def _summary(rows: list[dict]) -> str:
    ok = [r for r in rows if r["status"] == "ok"]
    lines = [f"{len(ok)} ok, {len(rows) - len(ok)} rejected of {len(rows)} clips"]
    lines += [f"  rejected {r['clip']}: {r['reason']}" for r in rows if r["status"] != "ok"]
    return "\n".join(lines)


def _quiet() -> None:
    """Silence mediapipe's protobuf deprecation warning on the command line."""
    import warnings

    os.environ.setdefault("GLOG_minloglevel", "2")
    warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype")


def _cmd_preprocess(args: argparse.Namespace) -> int:
    _quiet()
    df = preprocess_dataset(args.dataset, args.root, args.out, args.split, args.limit,
                            _config_from_args(args), progress=True)
    print(_summary(df.to_dict("records")))
    print(f"manifest: {Path(args.out) / MANIFEST}")
    return 0


def _cmd_preprocess_clip(args: argparse.Namespace) -> int:
    _quiet()
    clip = Clip(args.clip_id, Path(args.video), Path(args.audio) if args.audio else None, args.split)
    row = preprocess_clip(clip, Path(args.out), _config_from_args(args))
    print(_summary([row]))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("preprocess", help="preprocess a dataset split into the clip cache",
                              description="25 fps video, 16 kHz audio, FaceMesh crops/landmarks, mel.")
    p.add_argument("--dataset", required=True, choices=["lrs2", "cmlr"])
    p.add_argument("--root", required=True, type=Path, help="dataset root (config key datasets.<name>.root)")
    p.add_argument("--out", required=True, type=Path, help="preprocessed root; clip dirs + manifest.csv")
    p.add_argument("--split", default="test")
    p.add_argument("--limit", type=int, default=None, help="first N clips of the split")
    p.add_argument("--max-missing", type=float, default=None, help="largest face-less fraction (default 0.2)")
    p.add_argument("--wav2vec", default=None, help="local wav2vec2-base-960h dir (else no wav2vec)")
    p.set_defaults(func=_cmd_preprocess)

    c = subparsers.add_parser("preprocess-clip", help="preprocess one clip into a clip directory")
    c.add_argument("--video", required=True)
    c.add_argument("--audio", default=None, help="separate audio (default: the video's own track)")
    c.add_argument("--clip-id", required=True)
    c.add_argument("--split", default="")
    c.add_argument("--out", required=True, help="the clip directory to write")
    c.add_argument("--max-missing", type=float, default=None)
    c.add_argument("--wav2vec", default=None)
    c.set_defaults(func=_cmd_preprocess_clip)

