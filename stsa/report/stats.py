"""Statistics of per-video metrics: percentile-bootstrap CIs of the mean and paired method comparisons."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from metrics import registry


def higher_is_better(metric: str) -> bool:
    """Direction of a metric column (``metrics.registry``); KeyError for unknown columns."""
    return registry.column(metric).higher_is_better


@dataclass(frozen=True)
class MeanCI:
    """Mean of n finite values with a percentile-bootstrap confidence interval."""

    n: int
    mean: float
    low: float
    high: float


def _finite(values) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def bootstrap_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n,) values -> (n_boot,) means of resamples with replacement (seeded)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))  # (B, n)
    return values[idx].mean(axis=1)


def bootstrap_mean_ci(values, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> MeanCI:
    """Percentile bootstrap CI of the mean over videos; non-finite values (NaN, inf) are left out."""
    a = _finite(values)
    if len(a) == 0:
        return MeanCI(0, math.nan, math.nan, math.nan)
    means = bootstrap_means(a, n_boot, seed)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return MeanCI(len(a), float(a.mean()), float(low), float(high))


@dataclass(frozen=True)
class Paired:
    """Ours minus theirs on the same clips: mean difference, its bootstrap CI, Wilcoxon signed-rank p-value."""

    n: int
    mean_diff: float
    low: float
    high: float
    p_value: float
    verdict: str  # "better" | "worse" | "n.s." (for ours, in the metric's direction) | "n/a"


def wilcoxon_method(d: np.ndarray) -> str:
    """Exact null distribution for up to 50 distinct non-zero |differences|, else the normal approximation
    (scipy's default would run a slow permutation test on small samples with ties)."""
    a = np.abs(d)
    distinct = len(np.unique(a)) == len(a) and not np.any(a == 0)
    return "exact" if distinct and len(a) <= 50 else "approx"


def paired_comparison(ours, theirs, higher_better: bool, n_boot: int = 2000, seed: int = 0,
                      alpha: float = 0.05) -> Paired:
    """Compare two aligned (n,) arrays of per-video values; pairs with a non-finite value are dropped.

    Better/worse needs both p < alpha and a CI that excludes zero.
    """
    from scipy.stats import wilcoxon

    a, b = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]  # (n,)
    if len(d) == 0:
        return Paired(0, math.nan, math.nan, math.nan, math.nan, "n/a")
    ci = bootstrap_mean_ci(d, n_boot, seed, 1 - alpha)
    p = 1.0 if np.all(d == 0) else float(wilcoxon(d, method=wilcoxon_method(d)).pvalue)
    verdict = "n.s."
    if p < alpha and (ci.low > 0 or ci.high < 0):
        improved = (ci.mean > 0) == higher_better
        verdict = "better" if improved else "worse"
    return Paired(len(d), ci.mean, ci.low, ci.high, p, verdict)


def metric_summary(per_video: pd.DataFrame, metrics: list[str], n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per method and metric: n, mean and bootstrap CI over the ok videos (method order as first seen)."""
    ok = _ok_rows(per_video)
    records = []
    for method in ok["method"].drop_duplicates():
        rows = ok[ok["method"] == method]
        for metric in metrics:
            if metric not in rows:
                continue
            ci = bootstrap_mean_ci(rows[metric], n_boot, seed)
            records.append({"method": method, "metric": metric, "n": ci.n, "mean": ci.mean, "low": ci.low,
                            "high": ci.high})
    return pd.DataFrame(records, columns=["method", "metric", "n", "mean", "low", "high"])


def compare_to(per_video: pd.DataFrame, reference: str, metrics: list[str], n_boot: int = 2000,
               seed: int = 0, exclude: tuple[str, ...] = ("GT",)) -> pd.DataFrame:
    """``reference`` (e.g. STSA) against every other method on the clips both produced, per metric."""
    ok = _ok_rows(per_video)
    ours = ok[ok["method"] == reference].drop_duplicates("clip").set_index("clip")
    records = []
    if ours.empty:
        return pd.DataFrame(columns=["baseline", "metric", "higher_is_better", "n", "mean_diff", "low", "high",
                                     "p_value", "verdict"])
    for method in ok["method"].drop_duplicates():
        if method == reference or method in exclude:
            continue
        theirs = ok[ok["method"] == method].drop_duplicates("clip").set_index("clip")
        clips = sorted(set(ours.index) & set(theirs.index))
        for metric in metrics:
            if metric not in ok:
                continue
            res = paired_comparison(ours.loc[clips, metric].to_numpy(float), theirs.loc[clips, metric].to_numpy(float),
                                    higher_is_better(metric), n_boot, seed)
            records.append({"baseline": method, "metric": metric, "higher_is_better": higher_is_better(metric),
                            **res.__dict__})
    return pd.DataFrame(records, columns=["baseline", "metric", "higher_is_better", "n", "mean_diff", "low", "high",
                                          "p_value", "verdict"])


def _ok_rows(per_video: pd.DataFrame) -> pd.DataFrame:
    if "status" in per_video:
        return per_video[per_video["status"].fillna("ok") == "ok"]
    return per_video
