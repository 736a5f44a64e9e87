"""The preprocessed clip cache: ``<root>/<clip_id>/{status.json, video.mp4, audio.wav, clip.npz}``."""

from __future__ import annotations

import json
import os
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stsa.errors import DatasetError

STATUS_FILE, VIDEO_FILE, AUDIO_FILE, ARRAYS_FILE = "status.json", "video.mp4", "audio.wav", "clip.npz"
STATUS_FIELDS = ("clip", "status", "reason", "n_frames", "fps_in", "fps_out", "sample_rate_in", "channels_in",
                 "duration_video", "duration_audio", "detection_rate", "interpolated_frames", "source_video",
                 "source_audio")
_REQUIRED = ("crops", "boxes", "landmarks", "detected", "mel")
_OPTIONAL = ("wav2vec", "points", "frame_size")
_LOCAL_HEADER = 30  # bytes of a zip local file header before its name and extra field


@dataclass(frozen=True)
class NpzMember:
    """One array of an ``.npz`` file as its zip directory and ``.npy`` header describe it."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran: bool
    crc: int  # zip CRC-32 of the member's bytes (changes whenever the array is rewritten)
    offset: int | None  # byte offset of the array data in the file; None when the member is compressed


def _npy_header(f) -> tuple[tuple[int, ...], bool, np.dtype] | None:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    return None


def npz_members(path: str | Path) -> dict[str, NpzMember]:
    """The arrays of an ``.npz`` without reading their data: {name: NpzMember} from the zip central directory
    and each ``.npy`` header (cheap: a few small reads per member). Unreadable files raise OSError/ValueError."""
    out: dict[str, NpzMember] = {}
    with open(path, "rb") as f, zipfile.ZipFile(f) as z:
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                continue
            offset = None
            if info.compress_type == zipfile.ZIP_STORED:
                f.seek(info.header_offset)
                local = f.read(_LOCAL_HEADER)
                if local[:4] != b"PK\x03\x04":
                    raise ValueError(f"bad zip local header for {info.filename}")
                name_len, extra_len = struct.unpack("<HH", local[26:30])
                f.seek(info.header_offset + _LOCAL_HEADER + name_len + extra_len)
                header = _npy_header(f)
                offset = f.tell()
            else:
                with z.open(info) as member:
                    header = _npy_header(member)
            if header is None:  # an .npy format version this reader does not map: load it whole
                with z.open(info) as member:
                    arr = np.lib.format.read_array(member, allow_pickle=False)
                header, offset = (arr.shape, np.isfortran(arr), arr.dtype), None
            shape, fortran, dtype = header
            out[info.filename[:-4]] = NpzMember(info.filename[:-4], dtype, tuple(shape), fortran, info.CRC, offset)
    return out


def _mapped(path: Path, member: NpzMember, archive: np.lib.npyio.NpzFile) -> np.ndarray:
    """A read-only memory map of an uncompressed member (pages read on access), else the member loaded."""
    if member.offset is None or member.dtype.hasobject or not np.prod(member.shape, dtype=np.int64):
        return archive[member.name]
    return np.memmap(path, member.dtype, mode="r", offset=member.offset, shape=member.shape,
                     order="F" if member.fortran else "C")


def read_status(clip_dir: str | Path) -> dict:
    """The clip's ``status.json`` as a dict; a missing or unreadable one raises DatasetError."""
    path = Path(clip_dir) / STATUS_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise DatasetError(path, "clip not preprocessed (no status.json)",
                           "run `stsa-bench preprocess`") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(path, f"corrupt status file ({exc})",
                           "delete the clip directory and preprocess again") from exc


def _atomic_write(path: Path, write) -> None:
    """``write(file)`` into a temp file unique to this writer beside ``path``, then rename it over ``path`` (two
    processes writing the same clip never see each other's half-written file)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_status(clip_dir: str | Path, status: dict) -> None:
    """Write ``status.json`` atomically (temp file + rename)."""
    path = Path(clip_dir) / STATUS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, lambda f: f.write(json.dumps(status, indent=1, default=str).encode()))


@dataclass
class ClipData:
    """Arrays of one preprocessed clip (shapes for T video frames at 25 fps)."""

    crops: np.ndarray  # (T,128,128,3) uint8 RGB
    boxes: np.ndarray  # (T,4) int32 x1,y1,x2,y2 in video.mp4 pixels, end exclusive
    landmarks: np.ndarray  # (T,131,2) float32 (p - min) / (max - min) of the release's float face bounds
    detected: np.ndarray  # (T,) bool, False = interpolated
    mel: np.ndarray  # (80,M) float32 Wav2Lip mel of audio.wav
    wav2vec: np.ndarray | None = None  # (N,768) float32 at 50 Hz (what the model is fed, not rounded)
    points: np.ndarray | None = None  # (T,131,2) float32 the same landmarks in video.mp4 pixels
    frame_size: np.ndarray | None = None  # (2,) int32 height, width of video.mp4
    clip_dir: Path | None = None
    status: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.crops)

    @property
    def openness(self) -> np.ndarray:
        """(T,) mouth openness as the release measures it: |p0 - p17| in full-frame normalised coordinates
        (x / width, y / height), the key of reference-frame selection."""
        from stsa.data.landmarks import mouth_openness

        if self.points is None or self.frame_size is None:
            raise DatasetError(self._dir() / ARRAYS_FILE if self.clip_dir else None,
                               "clip arrays lack the full-frame landmarks (`points`, `frame_size`): written by an "
                               "older stsa-bench", "delete the clip directory and run `stsa-bench preprocess` again")
        height, width = (int(v) for v in self.frame_size)
        return mouth_openness(np.asarray(self.points, np.float64) / np.array([width, height], np.float64))

    @property
    def video_path(self) -> Path:
        return self._dir() / VIDEO_FILE

    @property
    def audio_path(self) -> Path:
        return self._dir() / AUDIO_FILE

    def read_frames(self) -> np.ndarray:
        """The full frames of ``video.mp4``: (T, H, W, 3) uint8 RGB; a length differing from the arrays' raises
        DatasetError."""
        from stsa.data.video import read_frames

        frames = read_frames(self.video_path)
        if len(frames) != self.n_frames:
            raise DatasetError(self.video_path, f"{len(frames)} frames but clip.npz has {self.n_frames}",
                               "delete the clip directory and run `stsa-bench preprocess` again")
        return frames

    def _dir(self) -> Path:
        if self.clip_dir is None:
            raise DatasetError(None, "clip data not bound to a directory",
                               "use ClipData.load(dir) or save(dir)")
        return Path(self.clip_dir)

    @classmethod
    def load(cls, clip_dir: str | Path, mmap: bool = False) -> ClipData:
        """Load ``clip.npz`` (+ status) of an ok clip; a rejected or missing clip raises DatasetError.

        ``mmap``: the arrays are read-only memory maps of the file (``save`` writes it uncompressed), so only the
        frames a caller indexes are read (training reads one window at a time); compressed members are loaded."""
        clip_dir = Path(clip_dir)
        status = read_status(clip_dir)
        if status.get("status") != "ok":
            raise DatasetError(clip_dir, f"clip was rejected in preprocessing: {status.get('reason')}",
                               "exclude it (manifest.csv status column) or fix the source and rerun")
        path = clip_dir / ARRAYS_FILE
        try:
            with np.load(path, allow_pickle=False) as z:
                if mmap:
                    arrays = {k: _mapped(path, m, z) for k, m in npz_members(path).items()}
                else:
                    arrays = {k: z[k] for k in z.files}
        except (FileNotFoundError, OSError, ValueError, zipfile.BadZipFile) as exc:
            raise DatasetError(path, f"clip arrays missing or unreadable ({exc})",
                               "delete the clip directory and run `stsa-bench preprocess` again") from exc
        missing = [k for k in _REQUIRED if k not in arrays]
        if missing:
            raise DatasetError(path, f"clip arrays lack {missing}", "preprocess the clip again")
        return cls(**{k: arrays[k] for k in _REQUIRED}, **{k: arrays.get(k) for k in _OPTIONAL},
                   clip_dir=clip_dir, status=status)

    def save(self, clip_dir: str | Path) -> None:
        """Write ``clip.npz`` (uncompressed: faster to load; written via a temp file + rename)."""
        clip_dir = Path(clip_dir)
        clip_dir.mkdir(parents=True, exist_ok=True)
        arrays = {"crops": np.asarray(self.crops, np.uint8), "boxes": np.asarray(self.boxes, np.int32),
                  "landmarks": np.asarray(self.landmarks, np.float32),
                  "detected": np.asarray(self.detected, bool),
                  "mel": np.asarray(self.mel, np.float32)}
        if self.wav2vec is not None:
            arrays["wav2vec"] = np.asarray(self.wav2vec, np.float32)
        if self.points is not None:
            arrays["points"] = np.asarray(self.points, np.float32)
        if self.frame_size is not None:
            arrays["frame_size"] = np.asarray(self.frame_size, np.int32)
        _atomic_write(clip_dir / ARRAYS_FILE, lambda f: np.savez(f, **arrays))
        self.clip_dir = clip_dir
