"""The evaluator: every requested metric of one method on one dataset in one pass (``stsa-bench evaluate``).

Ground truth is a preprocessed dataset dir (``<gt_root>/<clip_id>/``, read by ``stsa.data.clip.ClipData.load``);
predictions are ``<pred_dir>/<clip_id>.mp4`` full-frame videos, each decoded once and cropped with the ground
truth's boxes (``metrics.inputs.crop_prediction``). The loop names no metric: the engines and their columns come
from ``metrics.registry``. A missing or corrupt prediction is a row with status and reason; missing weights give
NaN plus the reason.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metrics import registry
from metrics.cache import FeatureCache
from metrics.inputs import GroundTruth, crop_prediction, frame_size

IN_FLIGHT = 2  # videos whose background work (FaceMesh) may still be running while the next one is started


def _reason(exc: Exception) -> str:
    from stsa.errors import StsaBenchError

    return str(exc) if isinstance(exc, StsaBenchError) else f"{type(exc).__name__}: {exc}"


def _nan_row(spec: registry.MetricSpec, note: str) -> Callable[[], dict[str, Any]]:
    """The row values of a metric that could not run on a video: NaN columns and the note."""
    return lambda: {**dict.fromkeys(spec.video_columns, math.nan), "notes_list": [note]}


class Evaluation:
    """The engines (``metrics.base.Metric``) of one run, built once (weights loaded once), applied per video.
    A metric whose engine cannot be built (e.g. missing weights) is NaN with the reason for every video."""

    def __init__(self, metrics: list[str], device, cache: FeatureCache, options: dict[str, Any] | None = None):
        self.specs = [registry.get(m) for m in registry.check_metrics(metrics)]
        options = registry.check_options(options)
        self.unavailable: dict[str, str] = {}
        self.engines: dict[str, Any] = {}
        for spec in self.specs:
            try:
                self.engines[spec.name] = spec.build(device, cache, options)
            except Exception as exc:  # noqa: BLE001 - any setup failure -> NaN + reason for this metric only
                self.unavailable[spec.name] = _reason(exc)

    @property
    def video_columns(self) -> list[str]:
        return [c for spec in self.specs for c in spec.video_columns]

    def start(self, pred: np.ndarray, gt: GroundTruth, pred_path: Path) -> Callable[[], dict[str, Any]]:
        """Start every metric on one video (background work keeps running); the returned function waits for them
        and gives the row values (columns in metric order, ``notes_list``). One metric failing on one video
        gives NaN and a note for that metric only."""
        pending: dict[str, Callable[[], dict[str, Any]]] = {}
        for spec in self.specs:
            if spec.name in self.unavailable:
                pending[spec.name] = _nan_row(spec, f"{spec.name} unavailable: {self.unavailable[spec.name]}")
                continue
            try:
                pending[spec.name] = self.engines[spec.name].submit(pred, gt, pred_path)
            except Exception as exc:  # noqa: BLE001 - recorded in the row, not fatal
                pending[spec.name] = _nan_row(spec, f"{spec.name}: {_reason(exc)}")

        def collect() -> dict[str, Any]:
            row: dict[str, Any] = {}
            notes: list[str] = []
            for spec in self.specs:
                try:
                    values = dict(pending[spec.name]())
                except Exception as exc:  # noqa: BLE001
                    values = _nan_row(spec, f"{spec.name}: {_reason(exc)}")()
                notes += values.pop("notes_list", [])
                row.update(values)
            if notes:
                row["notes_list"] = notes
            return row

        return collect

    def compute(self) -> dict[str, Any]:
        """Every column of every metric over the videos seen (NaN for unavailable metrics)."""
        out: dict[str, Any] = {}
        for spec in self.specs:
            values: dict[str, Any] = dict.fromkeys(spec.column_names, math.nan)
            engine = self.engines.get(spec.name)
            if engine is not None:
                try:
                    values.update(engine.compute())
                except Exception as exc:  # noqa: BLE001
                    self.unavailable[spec.name] = _reason(exc)
            out.update(values)
        return out

    def weights_used(self) -> dict[str, str | None]:
        """{weights name: sha256} of every file the built engines loaded."""
        return {name: sha for engine in self.engines.values() for name, sha in engine.weights_used().items()}

    def settings(self) -> dict[str, dict[str, Any]]:
        """{metric: protocol options in effect} for the metrics that have some."""
        return {name: s for name, engine in self.engines.items() if (s := engine.settings())}


def evaluate_method(gt_root: Path, pred_dir: Path, clip_ids: list[str], method: str, dataset: str,
                    metrics: list[str], device=None, cache_dir: Path | None = None,
                    options: dict[str, Any] | None = None):
    """Evaluate one method on one dataset -> (per-video DataFrame, aggregate dict).

    Rows: method, dataset, clip, status ("ok"/"failed"), n_frames, one column per per-video metric column, the
    metrics' extras (``liplmd_failed_frames``, ``LSE_offset``), notes. Aggregate: method, dataset, n_videos, n_ok,
    every metric column as the metric's ``compute()`` gives it over the ok videos (``metrics.registry`` kinds),
    ``unavailable: {metric: reason}``, ``weights: {name: sha256}`` actually loaded, ``settings: {metric:
    {option: value}}``. ``options``: ``metrics.registry.OPTIONS`` (``lse_protocol``, ``raft_iters``,
    ``workers``); unknown names or bad values raise ValueError.
    """
    import pandas as pd
    from tqdm import tqdm

    from stsa.device import resolve_device

    dev = resolve_device(device if device is None or isinstance(device, str) else str(device))
    ev = Evaluation(metrics, dev, FeatureCache(cache_dir, dataset), options)
    columns = ev.video_columns
    rows = []
    in_flight: deque[tuple[dict[str, Any], Callable[[], dict[str, Any]], list[str]]] = deque()

    def collect() -> None:
        row, finish, notes = in_flight.popleft()
        values = finish()
        row["notes"] = "; ".join(notes + values.pop("notes_list", []))
        row.update(values)

    for clip_id in tqdm(clip_ids, desc=f"evaluate {method}/{dataset}", unit="video"):
        row: dict[str, Any] = {"method": method, "dataset": dataset, "clip": clip_id, "status": "ok",
                               "n_frames": 0, **dict.fromkeys(columns, math.nan), "notes": ""}
        rows.append(row)
        pred_path = Path(pred_dir) / f"{clip_id}.mp4"
        try:
            gt = GroundTruth.load(gt_root, clip_id)
            pred, notes = crop_prediction(pred_path, gt.boxes, frame_size(gt.clip_dir), gt.crops.shape[1])
            finish = ev.start(pred, gt, pred_path)
            row["n_frames"] = len(pred)
        except Exception as exc:  # noqa: BLE001 - a bad prediction is a row, never a crash
            row["status"] = "failed"
            row["notes"] = _reason(exc)
            continue
        in_flight.append((row, finish, notes))
        while len(in_flight) > IN_FLIGHT:  # workers keep the next videos queued while this one is collected
            collect()
    while in_flight:
        collect()
    df = pd.DataFrame(rows)
    agg: dict[str, Any] = {"method": method, "dataset": dataset, "n_videos": len(df),
                           "n_ok": int((df["status"] == "ok").sum()) if len(df) else 0}
    agg.update(ev.compute())
    agg["unavailable"] = dict(ev.unavailable)
    agg["weights"] = ev.weights_used()
    agg["settings"] = ev.settings()
    return df, agg


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf) replaced by None, recursively: strict JSON."""
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def dumps_strict(value: Any, **kwargs: Any) -> str:
    """JSON without NaN/Infinity (RFC 8259): non-finite numbers become null."""
    return json.dumps(finite_or_none(value), allow_nan=False, default=str, **kwargs)


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
    options = {name: getattr(args, name) for name in registry.OPTIONS}
    df, agg = evaluate_method(gt_root, pred, clip_ids, args.method or pred.name, args.dataset or gt.name,
                              args.metrics, device=args.device, cache_dir=cache_dir / "features", options=options)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    out.with_suffix(".json").write_text(dumps_strict(agg, indent=2))
    shown = {k: v for k, v in agg.items() if k != "unavailable"}
    print(dumps_strict(shown, indent=2))
    for name, reason in agg["unavailable"].items():
        print(f"unavailable: {name}: {reason}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="score a folder of generated videos against ground truth",
                              description=__doc__.splitlines()[0])
    p.add_argument("--gt", required=True, help="folder of ground-truth videos, or a preprocessed dataset dir")
    p.add_argument("--pred", required=True, help="folder of the method's videos named like the ground truth")
    names = registry.ALL_METRICS
    p.add_argument("--metrics", nargs="+", default=list(names), choices=names, metavar="METRIC",
                   help=f"metrics to compute (default all): {' '.join(names)}")
    p.add_argument("--out", required=True, help="per-video CSV; the aggregate goes beside it as .json")
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    p.add_argument("--method", default=None, help="method name in the output (default: --pred folder name)")
    p.add_argument("--dataset", default=None, help="dataset name in the output (default: --gt folder name)")
    p.add_argument("--cache-dir", default=None, help="feature cache (default ~/.cache/stsa-bench/evaluate)")
    for opt in registry.OPTIONS.values():  # the metrics' options, e.g. --lse-protocol, --raft-iters, --workers
        metric = next(s.name for s in registry.METRICS.values() if opt in s.options)
        p.add_argument(f"--{opt.name.replace('_', '-')}", dest=opt.name, default=None, choices=opt.choices,
                       type=None if opt.choices else int,
                       help=f"{metric}: {opt.help} (default: {opt.default if opt.default is not None else 'auto'})")
    p.set_defaults(func=_run)
