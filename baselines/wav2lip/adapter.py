"""Native Wav2Lip inference on our preprocessed crops (the ``wav2lip`` adapter).

Per frame: the 128 crop resized to 96 (BGR), the masked crop + a reference (the frame itself, as the official
inference.py) and its 16-column mel window; the 96 output is resized back to 128 and pasted into the full frame with
the clip's boxes. Options: ``checkpoint`` (our trained file or a released .pth) or ``weights`` (manifest name,
default ``wav2lip``); ``batch`` (default 32).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from baselines.base import Adapter, AdapterStatus, ClipJob, sha256


class Wav2LipAdapter(Adapter):
    name, label = "wav2lip", "Wav2Lip"

    def _checkpoint_path(self) -> Path:
        from baselines.wav2lip.checkpoint import resolve_released

        if self.options.get("checkpoint"):
            return Path(self.options["checkpoint"]).expanduser()
        return resolve_released(self.options.get("weights", "wav2lip"))

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
        from baselines.wav2lip.checkpoint import load_checkpoint, load_into
        from baselines.wav2lip.model import Wav2LipConfig, Wav2LipGenerator
        from stsa.device import resolve_device

        self.device = resolve_device(device)
        path = self._checkpoint_path()
        ckpt = load_checkpoint(path)
        ours = ckpt.get("kind") == "wav2lip"
        cfg = Wav2LipConfig(**ckpt["config"]) if ours else Wav2LipConfig()
        self.model = Wav2LipGenerator(cfg)
        load_into(self.model, path, None if ours else self.options.get("weights", "wav2lip"))
        self.model.eval().to(self.device)
        self.version = f"native-wav2lip width={cfg.width} step={ckpt.get('step', 'released')}"

    def generate_crops(self, crops: np.ndarray, audio: str | Path) -> np.ndarray:
        """(T, 128, 128, 3) RGB crops + driving audio -> (T, 128, 128, 3) RGB generated crops."""
        import cv2
        import torch

        from baselines.wav2lip.data import faces_96, to_tensor_images
        from baselines.wav2lip.model import masked_input
        from stsa.data.audio import load_wav, mel_windows, melspectrogram

        n = len(crops)
        mel_win = mel_windows(melspectrogram(load_wav(audio)), n)
        idx = np.clip(np.arange(n) + self.model.config.mel_shift, 0, n - 1)
        mels = torch.from_numpy(mel_win[idx])[:, None]  # (T, 1, 80, 16)
        faces = to_tensor_images(faces_96(crops))  # (T, 3, 96, 96) BGR
        out = []
        bs = int(self.options.get("batch", 32))
        with torch.no_grad():
            for i in range(0, n, bs):
                f = faces[i:i + bs].to(self.device)
                pred = self.model(mels[i:i + bs].to(self.device), masked_input(f, f))
                out.append((pred.clamp(0, 1) * 255 + 0.5).byte().permute(0, 2, 3, 1).cpu().numpy())
        gen = np.concatenate(out)[..., ::-1]  # BGR -> RGB
        size = crops.shape[1]
        return np.stack([cv2.resize(np.ascontiguousarray(g), (size, size)) for g in gen])

    def dub_one(self, job: ClipJob) -> None:
        from stsa.data.clip import ClipData
        from stsa.data.crops import paste_faces
        from stsa.data.video import write_video

        clip = ClipData.load(job.clip_dir)
        faces = self.generate_crops(clip.crops, job.audio)
        write_video(job.out_path, paste_faces(clip.read_frames(), faces, clip.boxes), audio=job.audio)
