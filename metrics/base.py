"""The engine of a registry metric, in the torchmetrics manner: built once (weights loaded and verified once; a
missing file raises WeightsError), ``update(pred, gt)`` per video returns that video's values and keeps them,
``compute()`` aggregates over the videos seen (as the registry's ``kind`` says), ``reset()`` forgets them.
The evaluator uses exactly these objects.

``pred`` is a video's (n, 128, 128, 3) uint8 RGB crops, ``gt`` its ``GroundTruth`` (or bare crops; the first n
frames are compared), ``pred_path`` the prediction's video file (for metrics that read it, e.g. LSE's
wav2lip_lrs protocol). Engines with background work (LipLMD) override ``start``; the evaluator calls ``submit``
for every engine and collects later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from metrics import registry
from metrics.cache import FeatureCache
from metrics.inputs import GroundTruth


def nanmean(values: list[float]) -> float:
    """Mean of the non-NaN values (NaN when there are none)."""
    finite = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(finite)) if finite else math.nan


class Metric:
    """Base engine; subclasses set ``name`` (their registry entry) and implement ``video`` (or ``start``)."""

    name: ClassVar[str]

    def __init__(self, device: Any = "cpu", cache: FeatureCache | None = None, **options: Any):
        self.spec = registry.get(self.name)
        unknown = sorted(set(options) - {o.name for o in self.spec.options})
        if unknown:
            raise ValueError(f"{self.name}: unknown options {unknown}")
        self.options = {o.name: o.check(options.get(o.name)) for o in self.spec.options}
        self.device = device
        self.cache = cache if cache is not None else FeatureCache(None)
        self.reset()

    def reset(self) -> None:
        self.values: list[dict[str, Any]] = []

    def video(self, pred: np.ndarray, gt: GroundTruth, pred_path: Path | None) -> dict[str, Any]:
        """One video's values ``{column: value}`` (plus the spec's extras)."""
        raise NotImplementedError

    def start(self, pred: np.ndarray, gt: GroundTruth, pred_path: Path | None) -> Callable[[], dict[str, Any]]:
        """Start one video; the returned function gives its values. Computes now unless overridden."""
        values = self.video(pred, gt, pred_path)
        return lambda: values

    def submit(self, pred: np.ndarray, gt: GroundTruth | np.ndarray,
               pred_path: Path | None = None) -> Callable[[], dict[str, Any]]:
        """``update`` in two steps: start now, collect (and keep) the values when the returned function is called."""
        finish = self.start(np.asarray(pred), GroundTruth.of(gt), pred_path)

        def collect() -> dict[str, Any]:
            values = finish()
            self.values.append(values)
            return values

        return collect

    def update(self, pred: np.ndarray, gt: GroundTruth | np.ndarray, pred_path: Path | None = None) -> dict[str, Any]:
        """One video -> its values, kept for ``compute``."""
        return self.submit(pred, gt, pred_path)()

    def compute(self) -> dict[str, Any]:
        """Mean over the videos seen of each column (NaN videos left out; NaN when none), extras summed."""
        out: dict[str, Any] = {c: nanmean([float(v[c]) for v in self.values if c in v])
                               for c in self.spec.video_columns}
        for extra, how in self.spec.extras:
            if how == "sum":
                out[extra] = int(sum(v.get(extra, 0) for v in self.values))
        return out

    def required_weights(self) -> tuple[str, ...]:
        """stsa.weights names this engine loaded (the registry's, unless its options change them)."""
        return self.spec.weights

    def weights_used(self) -> dict[str, str | None]:
        """{name: sha256} of the weight files this engine loaded (hashes are cached by stsa.weights)."""
        from stsa.weights import resolve, verify

        return {name: verify(name, resolve(name)) for name in self.required_weights()}

    def settings(self) -> dict[str, Any]:
        """The protocol options in effect (they change the values; recorded in the tables' provenance)."""
        return {o.name: self.options[o.name] for o in self.spec.options if o.protocol}
