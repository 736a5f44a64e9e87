"""What the metrics compare: the ground truth of one clip (``GroundTruth``, read through
``stsa.data.clip.ClipData.load``, the one loader of ``clip.npz``) and a method's output cropped with the ground
truth's boxes (``crop_prediction``: the one place where a prediction is cropped; the report uses it too)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class GroundTruth:
    """The ground truth of one clip as the metrics need it."""

    crops: np.ndarray  # (T, 128, 128, 3) uint8 RGB
    boxes: np.ndarray | None = None  # (T, 4) int x1,y1,x2,y2 in video.mp4 pixels
    clip_id: str = ""
    clip_dir: Path | None = None  # the preprocessed clip: audio.wav, video.mp4
    audio: np.ndarray | None = None  # int16 samples at 16 kHz; None = read from clip_dir/audio.wav when needed
    _key: str | None = field(default=None, repr=False)

    @classmethod
    def load(cls, gt_root: Path, clip_id: str) -> GroundTruth:
        """``<gt_root>/<clip_id>`` through ClipData.load (a missing or rejected clip raises DatasetError)."""
        from stsa.data.clip import ClipData

        data = ClipData.load(Path(gt_root) / clip_id)
        return cls(data.crops, data.boxes, clip_id, data.clip_dir)

    @classmethod
    def of(cls, gt: GroundTruth | np.ndarray) -> GroundTruth:
        """``gt`` itself, or bare (T, H, W, 3) crops wrapped (for direct use of a metric)."""
        return gt if isinstance(gt, GroundTruth) else cls(np.asarray(gt))

    @property
    def key(self) -> str:
        """Content hash of the crops: cache entries follow the data, not the path."""
        if self._key is None:
            data = np.ascontiguousarray(self.crops).tobytes()
            self._key = hashlib.blake2b(data, digest_size=12).hexdigest()
        return self._key

    @property
    def audio_path(self) -> Path:
        from stsa.errors import DatasetError

        if self.clip_dir is None:
            raise DatasetError(None, "ground truth without a clip directory has no audio.wav",
                               "pass GroundTruth(audio=...) or load the clip with GroundTruth.load")
        return Path(self.clip_dir) / "audio.wav"


def frame_size(clip_dir: Path | None) -> tuple[int, int] | None:
    """(H, W) of a preprocessed clip's video.mp4, None when it cannot be probed."""
    from stsa.data.video import probe

    if clip_dir is None:
        return None
    try:
        info = probe(Path(clip_dir) / "video.mp4")
    except Exception:  # noqa: BLE001 - the size check is best effort
        return None
    return (info.height, info.width) if info.has_video else None


def crop_prediction(video: Path, boxes: np.ndarray, size: tuple[int, int] | None,
                    crop: int = 128) -> tuple[np.ndarray, list[str]]:
    """Decode a method's full-frame output once and crop it with the ground truth's boxes -> (n, crop, crop, 3)
    uint8 RGB and notes. n = min(frames, boxes) (the common frames are compared); an output of another frame size
    than the ground truth's ``size`` (H, W) gets the boxes rescaled. A missing or undecodable file raises
    MediaError naming it."""
    from stsa.data.crops import crop_faces
    from stsa.data.video import read_frames
    from stsa.errors import MediaError

    video = Path(video)
    if not video.is_file():
        raise MediaError(video, "prediction missing", "run the method on this clip (or check the clip id)")
    frames = read_frames(video)
    notes: list[str] = []
    n = min(len(frames), len(boxes))
    if len(frames) != len(boxes):
        notes.append(f"frame count {len(frames)} != ground truth {len(boxes)}; first {n} compared")
    frames, boxes = frames[:n], np.asarray(boxes[:n], np.int64)
    if size is not None and frames.shape[1:3] != tuple(size):
        sy, sx = frames.shape[1] / size[0], frames.shape[2] / size[1]
        boxes = np.round(boxes * np.array([sx, sy, sx, sy])).astype(np.int64)
        notes.append(f"frame size {frames.shape[2]}x{frames.shape[1]} != ground truth {size[1]}x{size[0]}; "
                     "boxes rescaled")
    return crop_faces(frames, boxes, crop), notes
