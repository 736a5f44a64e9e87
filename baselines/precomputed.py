"""Outputs generated elsewhere (``<dir>/<clip_id>.mp4``) entering the benchmark like any other method."""

from __future__ import annotations

from pathlib import Path

from baselines.base import Adapter, AdapterStatus, ClipJob
from stsa.errors import DatasetError


class PrecomputedAdapter(Adapter):
    """Options: ``dir`` (folder of videos named by clip id, slashes kept as sub folders), ``label`` (table row,
    default "Precomputed"), ``kind`` ("full" frames, default, or "crop" faces aligned with our boxes)."""

    name, label, version = "precomputed", "Precomputed", "precomputed"

    def __init__(self, options: dict | None = None):
        super().__init__(options)
        self.label = self.options.get("label", self.label)
        self.version = f"precomputed:{self.options.get('dir', '')}"

    def status(self) -> AdapterStatus:
        folder = self.options.get("dir")
        if not folder:
            return AdapterStatus(False, "precomputed: option dir=FOLDER (with <clip_id>.mp4 files) not given",
                                 ["option dir=FOLDER"])
        if not Path(folder).expanduser().is_dir():
            return AdapterStatus(False, f"{folder}: precomputed output folder not found", [str(folder)])
        return AdapterStatus(True)

    def source(self, clip_id: str) -> Path:
        return Path(self.options["dir"]).expanduser() / f"{clip_id}.mp4"

    def dub_one(self, job: ClipJob) -> dict:
        from baselines.official.external import normalise_output

        src = self.source(job.clip_id)
        if not src.is_file():
            raise DatasetError(src, "no precomputed output for this clip", "generate it or drop the clip")
        return normalise_output(src, job, self.options.get("kind", "full"))
