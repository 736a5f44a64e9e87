"""The evaluator: every requested metric of one method on one dataset in one pass (``stsa-bench evaluate``).

Ground truth is a preprocessed dataset dir (``<gt_root>/<clip_id>/clip.npz`` with ``crops``/``boxes``, plus
``video.mp4`` and ``audio.wav``); predictions are ``<pred_dir>/<clip_id>.mp4`` full-frame videos. Each
prediction is decoded once and cropped with the ground truth's boxes (``stsa.data.crops.crop_faces``).
A missing or corrupt prediction is a row with status and reason; missing weights give NaN plus the reason.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# --metrics name -> output columns
METRIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "psnr": ("PSNR",), "ssim": ("SSIM",), "fid": ("FID",), "lpips": ("LPIPS",), "liplmd": ("LipLMD",),
    "lse": ("LSE-D", "LSE-C"), "dme": ("DME",), "dme_dis": ("DME[dis]",),
}
ALL_METRICS = tuple(METRIC_COLUMNS)
IN_FLIGHT = 2  # videos whose background work (FaceMesh) may still be running while the next one is started


@dataclass
class GTClip:
    """One ground-truth clip of a preprocessed dataset."""

    clip_id: str
    dir: Path
    crops: np.ndarray  # (T, 128, 128, 3) uint8 RGB
    boxes: np.ndarray  # (T, 4) int x1,y1,x2,y2 in video.mp4 pixels
    _key: str | None = field(default=None, repr=False)

    @classmethod
    def load(cls, gt_root: Path, clip_id: str) -> GTClip:
        from stsa.errors import DatasetError

        d = Path(gt_root) / clip_id
        path = d / "clip.npz"
        if not path.is_file():
            raise DatasetError(path, "preprocessed ground truth missing",
                               "run `stsa-bench preprocess` on the dataset first")
        with np.load(path) as z:
            return cls(clip_id, d, np.asarray(z["crops"]), np.asarray(z["boxes"]))

    @property
    def key(self) -> str:
        """Content hash of the crops: cache entries follow the data, not the path."""
        if self._key is None:
            data = np.ascontiguousarray(self.crops).tobytes()
            self._key = hashlib.blake2b(data, digest_size=12).hexdigest()
        return self._key

    def audio(self) -> np.ndarray:
        from stsa.data.audio import load_wav

        return load_wav(self.dir / "audio.wav")

    def frame_size(self) -> tuple[int, int] | None:
        """(H, W) of the ground truth's video.mp4, None when it cannot be probed."""
        from stsa.data.video import probe

        try:
            info = probe(self.dir / "video.mp4")
        except Exception:  # noqa: BLE001 - size check is best effort
            return None
        return (info.height, info.width) if info.has_video else None


class FeatureCache:
    """Per-dataset cache of ground-truth features: ``<cache_dir>/<dataset>/<kind>/<clip>-<hash>.npz``
    (memory only when ``cache_dir`` is None)."""

    def __init__(self, cache_dir: Path | None, dataset: str):
        self.root = None if cache_dir is None else Path(cache_dir) / dataset
        self._mem: dict[tuple[str, str, str], dict[str, np.ndarray]] = {}

    def _path(self, kind: str, clip: GTClip) -> Path | None:
        if self.root is None:
            return None
        return self.root / kind / f"{clip.clip_id.replace('/', '__')}-{clip.key}.npz"

    def has(self, kind: str, clip: GTClip) -> bool:
        """Whether (kind, clip) is cached (in memory or on disk)."""
        if (kind, clip.clip_id, clip.key) in self._mem:
            return True
        path = self._path(kind, clip)
        return path is not None and path.is_file()

    def get(self, kind: str, clip: GTClip, compute, keep: bool = False) -> dict[str, np.ndarray]:
        """Cached arrays for (kind, clip), computing ``compute() -> dict`` once (kept in memory when ``keep``)."""
        mem_key = (kind, clip.clip_id, clip.key)
        if mem_key in self._mem:
            return self._mem[mem_key]
        path = self._path(kind, clip)
        if path is not None and path.is_file():
            with np.load(path) as z:
                value = {k: z[k] for k in z.files}
        else:
            value = compute()
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp.npz")
                np.savez(tmp, **value)
                tmp.replace(path)
        if keep:
            self._mem[mem_key] = value
        return value

    def get_dataset(self, kind: str, clips: list[GTClip], compute) -> dict[str, np.ndarray]:
        """Cached arrays for a whole set of clips (e.g. FID statistics), keyed by all their hashes."""
        digest = hashlib.blake2b("|".join(f"{c.clip_id}:{c.key}" for c in clips).encode(),
                                 digest_size=12).hexdigest()
        fake = GTClip(f"_dataset_{kind}", Path("."), np.zeros(0, np.uint8), np.zeros(0), _key=digest)
        return self.get(kind, fake, compute, keep=True)


def _load_prediction(pred_dir: Path, clip: GTClip) -> tuple[np.ndarray, list[str]]:
    """Decode ``<pred_dir>/<clip>.mp4`` once and crop it with the ground truth's boxes -> (T, 128, 128, 3)."""
    from stsa.data.crops import crop_faces
    from stsa.data.video import read_frames
    from stsa.errors import MediaError

    path = Path(pred_dir) / f"{clip.clip_id}.mp4"
    if not path.is_file():
        raise MediaError(path, "prediction missing", "run the method on this clip (or check the clip id)")
    frames = read_frames(path)
    notes: list[str] = []
    n = min(len(frames), len(clip.boxes))
    if len(frames) != len(clip.boxes):
        notes.append(f"frame count {len(frames)} != ground truth {len(clip.boxes)}; first {n} compared")
    frames, boxes = frames[:n], clip.boxes[:n]
    size = clip.frame_size()
    if size is not None and frames.shape[1:3] != size:
        sy, sx = frames.shape[1] / size[0], frames.shape[2] / size[1]
        boxes = np.round(boxes * np.array([sx, sy, sx, sy])).astype(np.int64)
        notes.append(f"frame size {frames.shape[2]}x{frames.shape[1]} != ground truth {size[1]}x{size[0]}; "
                     "boxes rescaled")
    return crop_faces(frames, boxes), notes


class Evaluation:
    """The per-metric engines of one run, set up once (weights loaded once), applied per video."""

    def __init__(self, metrics: list[str], device, cache: FeatureCache,
                 options: dict[str, Any] | None = None):
        from metrics import engines

        unknown = [m for m in metrics if m not in METRIC_COLUMNS]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(ALL_METRICS)}")
        self.metrics = list(dict.fromkeys(metrics))
        self.cache = cache
        self.unavailable: dict[str, str] = {}
        self.engines: dict[str, Any] = {}
        for name in self.metrics:
            try:
                self.engines[name] = engines.build(name, device, cache, options or {})
            except Exception as exc:  # noqa: BLE001 - any setup failure -> NaN + reason for this metric only
                from stsa.errors import StsaBenchError

                reason = str(exc) if isinstance(exc, StsaBenchError) else f"{type(exc).__name__}: {exc}"
                self.unavailable[name] = reason

    def _guarded(self, name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``compute()``, or NaN columns plus a note when the metric is unavailable or fails on this video."""
        if name in self.unavailable:
            return {**dict.fromkeys(METRIC_COLUMNS[name], math.nan),
                    "notes_list": [f"{name} unavailable: {self.unavailable[name]}"]}
        try:
            return compute()
        except Exception as exc:  # noqa: BLE001 - one metric failing on one video is recorded, not fatal
            return {**dict.fromkeys(METRIC_COLUMNS[name], math.nan),
                    "notes_list": [f"{name}: {type(exc).__name__}: {exc}"]}

    def start(self, pred: np.ndarray, gt: GTClip, pred_path: Path) -> Callable[[], dict[str, Any]]:
        """Start background work (FaceMesh) for one video, compute every other metric now; the returned function
        waits for the rest and gives the row values (columns in metric order, ``notes_list``)."""
        pending: dict[str, Callable[[], dict[str, Any]]] = {}
        for name in self.metrics:
            engine = self.engines.get(name)
            if hasattr(engine, "submit"):
                started = self._guarded(name, lambda e=engine: {"finish": e.submit(pred, gt, pred_path)})
                finish = started.pop("finish", None)
                pending[name] = (lambda f=finish, n=name: self._guarded(n, f)) if finish else (lambda v=started: v)
        done = {name: self._guarded(name, lambda n=name: self.engines[n].video(pred, gt, pred_path))
                for name in self.metrics if name not in pending}

        def collect() -> dict[str, Any]:
            row: dict[str, Any] = {}
            notes: list[str] = []
            for name in self.metrics:
                values = dict(pending[name]() if name in pending else done[name])
                notes += values.pop("notes_list", [])
                row.update(values)
            if notes:
                row["notes_list"] = notes
            return row

        return collect

    def video(self, pred: np.ndarray, gt: GTClip, pred_path: Path) -> dict[str, Any]:
        """Every metric on one video -> row values (and ``notes_list``)."""
        return self.start(pred, gt, pred_path)()

    def aggregate(self, gt_clips: list[GTClip]) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, engine in self.engines.items():
            if hasattr(engine, "aggregate"):
                try:
                    out.update(engine.aggregate(gt_clips))
                except Exception as exc:  # noqa: BLE001
                    self.unavailable[name] = f"{type(exc).__name__}: {exc}"
                    out.update(dict.fromkeys(METRIC_COLUMNS[name], math.nan))
        return out


def evaluate_method(gt_root: Path, pred_dir: Path, clip_ids: list[str], method: str, dataset: str,
                    metrics: list[str], device=None, cache_dir: Path | None = None,
                    options: dict[str, Any] | None = None):
    """Evaluate one method on one dataset -> (per-video DataFrame, aggregate dict).

    Rows: method, dataset, clip, status ("ok"/"failed"), n_frames, one column per metric, failures/notes.
    Aggregate: method, dataset, n_videos, n_ok, mean over ok videos of each per-video column (inf values kept:
    a mean with an identical video is inf), FID over all frames, ``unavailable: {metric: reason}``.
    ``options``: ``lse_pipeline`` ("crops" default | "full"), ``raft_iters`` (DME, default 20 as Dyco),
    ``workers`` (FaceMesh processes for LipLMD; default all cores available, 0 = in this process; the values do
    not depend on it).
    """
    import pandas as pd
    from tqdm import tqdm

    from stsa.device import resolve_device

    dev = resolve_device(device if device is None or isinstance(device, str) else str(device))
    cache = FeatureCache(cache_dir, dataset)
    ev = Evaluation(metrics, dev, cache, options)
    columns = [c for m in ev.metrics for c in METRIC_COLUMNS[m] if m != "fid"]
    rows, gt_ok = [], []
    in_flight: deque[tuple[dict[str, Any], Callable[[], dict[str, Any]], list[str]]] = deque()

    def collect() -> None:
        row, finish, notes = in_flight.popleft()
        values = finish()
        row.update(values)
        row["notes"] = "; ".join(notes + values.pop("notes_list", []))
        row.pop("notes_list", None)

    for clip_id in tqdm(clip_ids, desc=f"evaluate {method}/{dataset}", unit="video"):
        row: dict[str, Any] = {"method": method, "dataset": dataset, "clip": clip_id, "status": "ok",
                               "n_frames": 0, **dict.fromkeys(columns, math.nan), "notes": ""}
        rows.append(row)
        try:
            gt = GTClip.load(gt_root, clip_id)
            pred, notes = _load_prediction(pred_dir, gt)
            finish = ev.start(pred, gt, Path(pred_dir) / f"{clip_id}.mp4")
            row["n_frames"] = len(pred)
            gt_ok.append(gt)
        except Exception as exc:  # noqa: BLE001 - a bad prediction is a row, never a crash
            from stsa.errors import StsaBenchError

            row["status"] = "failed"
            row["notes"] = str(exc) if isinstance(exc, StsaBenchError) else f"{type(exc).__name__}: {exc}"
            continue
        in_flight.append((row, finish, notes))
        while len(in_flight) > IN_FLIGHT:  # workers keep the next videos queued while this one is collected
            collect()
    while in_flight:
        collect()
    df = pd.DataFrame(rows)
    ok = df[df["status"] == "ok"]
    agg: dict[str, Any] = {"method": method, "dataset": dataset, "n_videos": len(df), "n_ok": len(ok)}
    for col in columns:
        agg[col] = float(ok[col].mean()) if len(ok) and ok[col].notna().any() else math.nan
    for col in ("liplmd_failed_frames",):
        if col in df:
            agg[col] = int(df[col].fillna(0).sum())
    agg.update(ev.aggregate(gt_ok))
    for name in ev.metrics:
        for col in METRIC_COLUMNS[name]:
            agg.setdefault(col, math.nan)
    agg["unavailable"] = dict(ev.unavailable)
    return df, agg


def _gt_is_preprocessed(path: Path) -> bool:
    return (path / "manifest.csv").is_file()


def _preprocess_folder(gt_dir: Path, cache_root: Path) -> tuple[Path, list[str]]:
    """Bring-your-own: preprocess every video of a plain folder (``*.mp4``, audio embedded or a same-named
    ``.wav`` beside it) into ``cache_root`` (done once; status.json marks finished clips) -> (root, ok ids)."""
    from stsa.data.datasets import Clip
    from stsa.data.facemesh import FaceMeshDetector
    from stsa.data.preprocess import PreprocessConfig, preprocess_clip

    videos = sorted(gt_dir.rglob("*.mp4"))
    ok, detector = [], None
    try:
        for video in videos:
            clip_id = video.relative_to(gt_dir).with_suffix("").as_posix()
            status_path = cache_root / clip_id / "status.json"
            if not status_path.is_file():
                detector = detector or FaceMeshDetector()
                wav = video.with_suffix(".wav")
                clip = Clip(clip_id=clip_id, video=video, audio=wav if wav.is_file() else None, split="test")
                preprocess_clip(clip, cache_root / clip_id, PreprocessConfig(), detector=detector)
            status = json.loads(status_path.read_text()) if status_path.is_file() else {}
            if status.get("status") == "ok":
                ok.append(clip_id)
            else:
                print(f"ground truth {clip_id} rejected: {status.get('reason')}")
    finally:
        if detector is not None:
            detector.close()
    return cache_root, ok


def _run(args: argparse.Namespace) -> int:
    import pandas as pd

    from stsa.errors import DatasetError

    gt, pred = Path(args.gt), Path(args.pred)
    if not gt.is_dir():
        raise DatasetError(gt, "ground-truth folder not found",
                           "pass --gt a folder of videos or a preprocessed dir")
    if not pred.is_dir():
        raise DatasetError(pred, "prediction folder not found",
                           "pass --pred the folder of the method's videos")
    cache_dir = Path(args.cache_dir) if args.cache_dir else Path.home() / ".cache" / "stsa-bench" / "evaluate"
    if _gt_is_preprocessed(gt):
        manifest = pd.read_csv(gt / "manifest.csv", dtype=str)
        if "status" in manifest:
            manifest = manifest[manifest["status"] == "ok"]
        clip_ids = list(manifest["clip"])
        gt_root = gt
    else:
        digest = hashlib.blake2b(str(gt.resolve()).encode(), digest_size=6).hexdigest()
        gt_root, clip_ids = _preprocess_folder(gt, cache_dir / "preprocessed" / f"{gt.name}-{digest}")
    if not clip_ids:
        raise DatasetError(gt, "no usable ground-truth clips",
                           "check the folder holds readable videos with faces")
    df, agg = evaluate_method(gt_root, pred, clip_ids, args.method or pred.name, args.dataset or gt.name,
                              args.metrics, device=args.device, cache_dir=cache_dir / "features",
                              options={"lse_pipeline": args.lse_pipeline, "workers": args.workers})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    out.with_suffix(".json").write_text(json.dumps(agg, indent=2, default=str))
    shown = {k: v for k, v in agg.items() if k != "unavailable"}
    print(json.dumps(shown, indent=2, default=str))
    for name, reason in agg["unavailable"].items():
        print(f"unavailable: {name}: {reason}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="score a folder of generated videos against ground truth",
                              description=__doc__.splitlines()[0])
    p.add_argument("--gt", required=True, help="folder of ground-truth videos, or a preprocessed dataset dir")
    p.add_argument("--pred", required=True, help="folder of the method's videos named like the ground truth")
    p.add_argument("--metrics", nargs="+", default=list(ALL_METRICS), choices=ALL_METRICS, metavar="METRIC",
                   help=f"metrics to compute (default all): {' '.join(ALL_METRICS)}")
    p.add_argument("--out", required=True, help="per-video CSV; the aggregate goes beside it as .json")
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    p.add_argument("--method", default=None, help="method name in the output (default: --pred folder name)")
    p.add_argument("--dataset", default=None, help="dataset name in the output (default: --gt folder name)")
    p.add_argument("--cache-dir", default=None, help="feature cache (default ~/.cache/stsa-bench/evaluate)")
    p.add_argument("--lse-pipeline", default="crops", choices=("crops", "full"),
                   help="LSE on the face crops (Wav2Lip convention) or syncnet-python's full S3FD pipeline")
    p.add_argument("--workers", type=int, default=None,
                   help="FaceMesh worker processes for liplmd (default: cores available; 0 = in-process)")
    p.set_defaults(func=_run)
