"""The metric registry: every metric defined once (name, output columns with their precision and direction, kind,
needed weights, options, engine). The evaluator, the tables, the report and the workflow's config check read it.

Adding a metric = one ``MetricSpec`` here + its module (functional core and a ``metrics.base.Metric`` engine).
Importing this module is cheap (no torch): engines are imported when built.

``kind`` says what the table value averages over:
- ``video``: each video gets a value (the mean over its frames, frame pairs or windows); the table value is the mean
  over videos.
- ``frame``: each video gets the mean over its frames (pairs); the table value pools every frame (pair) of every
  video (so longer videos weigh more).
- ``dataset``: one value over all frames of all videos (no per-video value).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

KINDS = ("video", "frame", "dataset")


@dataclass(frozen=True)
class Column:
    """One output column of a metric, as the tables show it."""

    name: str
    precision: int  # digits after the point in the tables (the paper's)
    higher_is_better: bool


@dataclass(frozen=True)
class Option:
    """An evaluator option. ``protocol`` options change the values: they are settable in the workflow config
    (``metric_options``) and recorded in every table's provenance; the others (e.g. worker processes) do not."""

    name: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    protocol: bool = True

    def check(self, value: Any) -> Any:
        """``value`` validated (None = the default)."""
        if value is None:
            return self.default
        if self.choices is not None:
            if value not in self.choices:
                raise ValueError(f"metric option {self.name}={value!r}: choose one of {', '.join(self.choices)}")
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"metric option {self.name}={value!r}: an integer is needed")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"metric option {self.name}={value}: must be >= {self.minimum}")
        return value


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its ``--metrics`` name, the columns it fills, how they aggregate, what it needs."""

    name: str
    columns: tuple[Column, ...]
    kind: str  # one of KINDS
    engine: str  # "module:Class" of its metrics.base.Metric subclass
    weights: tuple[str, ...] = ()  # stsa.weights names it loads
    extras: tuple[tuple[str, str | None], ...] = ()  # per-video diagnostic columns, aggregated by "sum" or not (None)
    options: tuple[Option, ...] = ()
    summary: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def video_columns(self) -> tuple[str, ...]:
        """Columns with a per-video value (none for dataset metrics)."""
        return () if self.kind == "dataset" else self.column_names

    def engine_class(self) -> type:
        module, cls = self.engine.split(":")
        return getattr(importlib.import_module(module), cls)

    def build(self, device: Any = "cpu", cache: Any = None, options: dict[str, Any] | None = None):
        """The engine, with this metric's share of ``options``; raises (e.g. WeightsError) when it cannot run."""
        own = {o.name: (options or {}).get(o.name) for o in self.options}
        return self.engine_class()(device=device, cache=cache, **own)


LSE_PROTOCOLS = ("crops", "wav2lip_lrs", "full")

METRICS: dict[str, MetricSpec] = {s.name: s for s in (
    MetricSpec("psnr", (Column("PSNR", 2, True),), "video", "metrics.psnr:PSNR",
               summary="per-frame PSNR on RGB in [0,1], identical frames capped at 100 dB"),
    MetricSpec("ssim", (Column("SSIM", 4, True),), "video", "metrics.ssim:SSIM",
               summary="per-frame Gaussian SSIM (skimage's settings)"),
    MetricSpec("fid", (Column("FID", 2, False),), "dataset", "metrics.fid:FID", weights=("pt_inception",),
               summary="pytorch-fid Inception pool3 of all predicted vs all ground-truth frames"),
    MetricSpec("lpips", (Column("LPIPS", 4, False),), "video", "metrics.lpips_metric:LPIPS", weights=("alexnet",),
               summary="lpips net='alex' per frame"),
    MetricSpec("liplmd", (Column("LipLMD", 5, False),), "video", "metrics.liplmd:LipLMD",
               extras=(("liplmd_failed_frames", "sum"),),
               options=(Option("workers", None, "FaceMesh worker processes (default: cores available; 0 = "
                               "in-process); the values do not depend on it", minimum=0, protocol=False),),
               summary="mediapipe lip landmarks, crop-normalised L2"),
    MetricSpec("lse", (Column("LSE-D", 4, False), Column("LSE-C", 4, True)), "video", "metrics.lse:LSE",
               weights=("syncnet_v2",), extras=(("LSE_offset", None),),
               options=(Option("lse_protocol", "crops",
                               "crops: the 128x128 face crops with the ground truth's audio; wav2lip_lrs: Wav2Lip's "
                               "calculate_scores_LRS.py (the whole generated frame at 224, the video's own audio); "
                               "full: syncnet-python's S3FD pipeline", choices=LSE_PROTOCOLS),),
               summary="SyncNet distance / confidence"),
    MetricSpec("dme", (Column("DME", 4, False),), "frame", "metrics.dme:DME", weights=("raft_large",),
               options=(Option("raft_iters", 20, "RAFT refinement iterations (Dyco: 20)", minimum=1),),
               summary="Dyco's dynamic motion error with RAFT-large flow"),
    MetricSpec("dme_dis", (Column("DME[dis]", 4, False),), "frame", "metrics.dme:DMEDis",
               summary="DME with OpenCV DIS flow (no weights)"),
)}
ALL_METRICS = tuple(METRICS)
COLUMNS: dict[str, Column] = {c.name: c for s in METRICS.values() for c in s.columns}
OPTIONS: dict[str, Option] = {o.name: o for s in METRICS.values() for o in s.options}


def get(name: str) -> MetricSpec:
    """The spec of metric ``name``; ValueError listing the known names otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metrics ['{name}']; choose from {', '.join(ALL_METRICS)}") from None


def check_metrics(names: list[str]) -> list[str]:
    """``names`` without duplicates, in order; ValueError naming every unknown one."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {', '.join(ALL_METRICS)}")
    return list(dict.fromkeys(names))


def check_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """Every option with its validated value (defaults filled in); ValueError for unknown names or bad values."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown metric options {unknown}; choose from {', '.join(OPTIONS)}")
    return {name: opt.check(options.get(name)) for name, opt in OPTIONS.items()}


def check_config(metrics: list[str], options: dict[str, Any] | None = None) -> None:
    """The workflow config's ``metrics`` and ``metric_options`` (called by workflow/rules/common.smk)."""
    check_metrics(list(metrics))
    bad = sorted(k for k in (options or {}) if k in OPTIONS and not OPTIONS[k].protocol)
    if bad:
        raise ValueError(f"metric_options {bad} are run options, not protocol options: leave them out of the config")
    check_options(options)


def column(name: str) -> Column:
    """A table column of the registry; KeyError for names no metric produces."""
    if name not in COLUMNS:
        raise KeyError(f"unknown metric column '{name}'; known: {', '.join(COLUMNS)}")
    return COLUMNS[name]
