"""The STSA model as a table row: ``stsa.dub.Dubber`` loaded once, each preprocessed clip dubbed with its own
video as the template (frames, crops, boxes, landmarks of the clip cache) and the job's audio."""

from __future__ import annotations

from pathlib import Path

from baselines.base import Adapter, AdapterStatus, ClipJob, sha256


class STSAAdapter(Adapter):
    """Options: ``checkpoint`` (a fine-tuned or merged stsa-bench checkpoint; default: the released weights)."""

    name, label, version = "stsa", "STSA", "stsa-bench"

    def _checkpoint(self) -> Path | None:
        ckpt = self.options.get("checkpoint")
        return Path(ckpt).expanduser() if ckpt else None

    def status(self) -> AdapterStatus:
        ckpt = self._checkpoint()
        if ckpt is not None:
            if not ckpt.is_file():
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
        ckpt = self._checkpoint()
        return {str(ckpt): sha256(ckpt)} if ckpt is not None else {}

    def setup(self, device) -> None:
        from stsa.dub import Dubber

        self.dubber = Dubber.from_checkpoint(self._checkpoint(), device)

    def dub_one(self, job: ClipJob) -> None:
        from stsa.data.clip import ClipData
        from stsa.dub import Template

        self.dubber.dub(Template.from_clip(ClipData.load(job.clip_dir)), job.audio, job.out_path)
