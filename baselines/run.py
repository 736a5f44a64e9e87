"""Running one method over clip jobs, as the workflow does."""

from __future__ import annotations

import pandas as pd

from baselines.base import ClipJob
from baselines.registry import get_adapter
from stsa.errors import StsaBenchError, WeightsError


def run_method(name: str, options: dict, jobs: list[ClipJob], device=None, required: bool = False) -> pd.DataFrame:
    """One row per clip (clip, status, reason, runtime). A method that is not ready gives "unavailable" rows with
    the reason, or raises WeightsError when ``required``; a failing clip is a row with its reason."""
    adapter = get_adapter(name, options)
    st = adapter.status()
    if not st.ready and required:
        raise WeightsError(None, f"method {name} is required but not ready: {st.reason}",
                           "provide what is listed (see `stsa-bench baselines list`)")
    try:
        results = adapter.dub(jobs, device=device)
    except StsaBenchError as exc:  # setup failure (e.g. a corrupt checkpoint) -> every clip failed
        if required:
            raise
        results = [adapter.write_meta(j, "failed", str(exc), 0.0) for j in jobs]
    rows = [{"clip": j.clip_id, "status": r.get("status"), "reason": r.get("reason", ""),
             "runtime": r.get("runtime_s", 0.0)} for j, r in zip(jobs, results, strict=True)]
    return pd.DataFrame(rows, columns=["clip", "status", "reason", "runtime"])
