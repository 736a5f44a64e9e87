"""The adapter interface every compared method implements, and helpers shared by adapters."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class ClipJob:
    """One clip to dub: the preprocessed ground-truth clip dir (video.mp4, audio.wav, clip.npz), the driving audio
    (16 kHz mono wav) and the output video path (.mp4)."""

    clip_id: str
    clip_dir: Path
    audio: Path
    out_path: Path

    @property
    def meta_path(self) -> Path:
        """``<clip_id>.json`` beside the video (ARCHITECTURE.md "Method outputs")."""
        return Path(self.out_path).with_suffix(".json")

    @property
    def log_path(self) -> Path:
        """``<clip_id>.log``: the output of an external process that ran for this clip."""
        return Path(self.out_path).with_suffix(".log")


@dataclass
class AdapterStatus:
    """``ready`` or not, why, and exactly which files/settings are missing."""

    ready: bool
    reason: str = ""
    missing: list[str] = field(default_factory=list)


@cache
def _sha256_cached(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256(path: str | Path) -> str:
    """SHA-256 of a file (cached per path, size and mtime)."""
    st = Path(path).stat()
    return _sha256_cached(str(Path(path).resolve()), st.st_size, st.st_mtime)


class Adapter:
    """A compared method. Subclasses set ``name``/``label`` and implement ``status`` and ``dub_one`` (or ``dub``)."""

    name: str = ""
    label: str = ""
    version: str = ""

    def __init__(self, options: dict | None = None):
        self.options = dict(options or {})

    def status(self) -> AdapterStatus:
        return AdapterStatus(True)

    def checkpoints(self) -> dict[str, str]:
        """Checkpoint path -> sha256 of the files this adapter uses."""
        return {}

    def setup(self, device) -> None:
        """Load models once per ``dub`` call."""

    def dub_one(self, job: ClipJob) -> dict | None:
        """Write ``job.out_path``; may return extra fields for ``<clip_id>.json`` (e.g. frames padded)."""
        raise NotImplementedError

    def dub(self, jobs: list[ClipJob], device=None) -> list[dict]:
        """Dub every job; one failing clip is recorded (status "failed" + reason) and the others go on."""
        st = self.status()
        if not st.ready:
            return [self.write_meta(j, "unavailable", st.reason, 0.0) for j in jobs]
        try:
            self.setup(device)
        except Exception as exc:  # noqa: BLE001 - e.g. a corrupt checkpoint: every clip failed, with the reason
            return [self.write_meta(j, "failed", f"{type(exc).__name__}: {exc}", 0.0) for j in jobs]
        results = []
        for job in jobs:
            t0 = time.perf_counter()
            try:
                Path(job.out_path).parent.mkdir(parents=True, exist_ok=True)
                extra = self.dub_one(job)
                results.append(self.write_meta(job, "ok", "", time.perf_counter() - t0,
                                               extra if isinstance(extra, dict) else None))
            except Exception as exc:  # noqa: BLE001 - one bad clip never sinks a run
                reason = f"{type(exc).__name__}: {exc}"
                results.append(self.write_meta(job, "failed", reason, time.perf_counter() - t0))
        return results

    def write_meta(self, job: ClipJob, status: str, reason: str, runtime_s: float, extra: dict | None = None) -> dict:
        """Write ``<clip_id>.json`` beside the output and return the row for it; ``extra`` adds fields."""
        meta = {"adapter": self.name, "version": self.version, "checkpoints": self.checkpoints() if status == "ok"
                else {}, "runtime_s": round(float(runtime_s), 3), "status": status, "reason": reason,
                "clip": job.clip_id, **(extra or {})}
        Path(job.out_path).parent.mkdir(parents=True, exist_ok=True)
        job.meta_path.write_text(json.dumps(meta, indent=2))
        return meta
