"""Native Wav2Lip on our preprocessed clips (the ``wav2lip`` adapter), as the official inference.py runs it
(``baselines/wav2lip/inference.py``) with the clip's boxes in place of S3FD's.

Options: ``checkpoint`` (our trained file or a released .pth) or ``weights`` (manifest name, default ``wav2lip``);
``batch`` (default 32); ``preset`` (``official`` for released weights, ``trained`` for our checkpoints) and its
fields ``paste``, ``resize``, ``quantise``, ``frames``, ``pads`` (top,bottom,left,right), ``smooth``
(``InferenceConfig``). The output has the ground truth's length: frames past the last mel chunk repeat the last
generated frame, and ``<clip_id>.json`` records ``frames_generated`` of ``frames``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from baselines.base import Adapter, AdapterStatus, ClipJob, sha256


class Wav2LipAdapter(Adapter):
    name, label = "wav2lip", "Wav2Lip"

    def _checkpoint_path(self) -> Path:
        from stsa import weights

        if self.options.get("checkpoint"):
            return Path(self.options["checkpoint"]).expanduser()
        return weights.resolve(self.options.get("weights", "wav2lip"))

    def status(self) -> AdapterStatus:
        from stsa.errors import WeightsError

        try:
            path = self._checkpoint_path()
        except WeightsError as exc:
            return AdapterStatus(False, str(exc), [f"{exc.path} ({exc.fix}; or train one: `stsa-bench baselines "
                                                   f"train --model wav2lip` and pass --option checkpoint=FILE)"])
        if not path.is_file():
            return AdapterStatus(False, f"{path}: checkpoint not found (train one: stsa-bench baselines train "
                                        f"--model wav2lip, or download wav2lip.pth)", [str(path)])
        return AdapterStatus(True)

    def checkpoints(self) -> dict[str, str]:
        path = self._checkpoint_path()
        return {str(path): sha256(path)}

    def setup(self, device) -> None:
        from baselines.wav2lip.checkpoint import load_checkpoint, load_state
        from baselines.wav2lip.inference import InferenceConfig
        from baselines.wav2lip.model import Wav2LipConfig, Wav2LipGenerator
        from stsa import weights
        from stsa.device import resolve_device

        self.device = resolve_device(device)
        path = self._checkpoint_path()
        if self.options.get("checkpoint"):  # our training checkpoint or a released-format file
            ckpt = load_checkpoint(path)
        else:  # a manifest name: checksum-verified
            ckpt = weights.load_state_dict(self.options.get("weights", "wav2lip"), path)
        ours = ckpt.get("kind") == "wav2lip"
        cfg = Wav2LipConfig(**ckpt["config"]) if ours else Wav2LipConfig()
        self.model = Wav2LipGenerator(cfg)
        load_state(self.model, ckpt, path)
        self.model.eval().to(self.device)
        preset = self.options.get("preset", "trained" if ours else "official")
        self.infer = InferenceConfig.preset(preset).with_options(self.options)
        self.version = (f"native-wav2lip width={cfg.width} step={ckpt.get('step', 'released')} preset={preset} "
                        f"{self.infer.describe()}")

    def dub_one(self, job: ClipJob) -> dict:
        from baselines.wav2lip.inference import generate
        from stsa.data.audio import load_wav, melspectrogram
        from stsa.data.clip import ClipData
        from stsa.data.video import write_video

        clip = ClipData.load(job.clip_dir)
        full = clip.read_frames()
        mel = melspectrogram(load_wav(job.audio))
        if mel.shape[1] < 16:
            from stsa.errors import MediaError

            raise MediaError(job.audio, f"audio too short for Wav2Lip ({mel.shape[1]} mel columns, 16 needed)",
                             "pass at least 0.19 s of audio")
        frames = generate(self.model, full, clip.boxes, mel, self.infer, crops=clip.crops,
                          batch=int(self.options.get("batch", 32)), device=self.device)
        n, total = len(frames), len(full)
        if n < total:  # the release makes one frame per mel chunk: repeat the last, as baselines/official does
            frames = np.concatenate([frames, np.repeat(frames[-1:], total - n, axis=0)])
        write_video(job.out_path, frames, audio=job.audio)
        return {"frames_generated": n, "frames_gt": total, "frames_padded": total - n}
