"""The STSA model as a table row: calls ``stsa.dub.dub_clips(jobs, checkpoint, device)`` (imported lazily)."""

from __future__ import annotations

import time
from pathlib import Path

from baselines.base import Adapter, AdapterStatus, ClipJob, sha256


class STSAAdapter(Adapter):
    """Options: ``checkpoint`` (passed to dub_clips as is; a path is hashed into the metadata)."""

    name, label, version = "stsa", "STSA", "stsa-bench"

    def _dub_clips(self):
        from stsa.dub import dub_clips

        return dub_clips

    def status(self) -> AdapterStatus:
        try:
            self._dub_clips()
        except (ImportError, AttributeError) as exc:
            return AdapterStatus(False, f"stsa.dub.dub_clips is not available ({exc})", ["stsa/dub.py: dub_clips"])
        ckpt = self.options.get("checkpoint")
        if ckpt:
            if not Path(ckpt).expanduser().exists():
                return AdapterStatus(False, f"{ckpt}: STSA checkpoint not found (train: stsa-bench train)",
                                     [str(ckpt)])
            return AdapterStatus(True)
        from stsa.errors import WeightsError
        from stsa.weights import resolve

        missing = []
        for name in ("stsa_heatmap", "stsa_face"):
            try:
                resolve(name)
            except WeightsError as exc:
                missing.append(f"{exc.path} ({exc.fix}; or pass --option checkpoint=FILE of `stsa-bench train`)")
        if missing:
            return AdapterStatus(False, "released STSA weights missing and no checkpoint option given", missing)
        return AdapterStatus(True)

    def checkpoints(self) -> dict[str, str]:
        ckpt = self.options.get("checkpoint")
        if ckpt and Path(ckpt).expanduser().is_file():
            return {str(ckpt): sha256(Path(ckpt).expanduser())}
        return {}

    def dub(self, jobs: list[ClipJob], device=None) -> list[dict]:
        st = self.status()
        if not st.ready:
            return [self.write_meta(j, "unavailable", st.reason, 0.0) for j in jobs]
        for job in jobs:
            Path(job.out_path).parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        try:
            results = self._dub_clips()(jobs, self.options.get("checkpoint"), device)
        except Exception as exc:  # noqa: BLE001 - the run goes on with every clip marked failed
            return [self.write_meta(j, "failed", f"{type(exc).__name__}: {exc}", 0.0) for j in jobs]
        per_clip = (time.perf_counter() - t0) / max(1, len(jobs))
        by_clip = {}
        for r in results or []:
            if isinstance(r, dict) and "clip" in r:
                by_clip[r["clip"]] = r
        rows = []
        for job in jobs:
            r = by_clip.get(job.clip_id, {})
            ok = Path(job.out_path).is_file() and r.get("status", "ok") == "ok"
            reason = r.get("reason", "") if ok else (r.get("reason") or f"{job.out_path} was not written")
            rows.append(self.write_meta(job, "ok" if ok else "failed", reason, r.get("runtime_s", per_clip)))
        return rows
