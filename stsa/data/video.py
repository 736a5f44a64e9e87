"""Video I/O: probing and decoding with PyAV, normalising and encoding with the ffmpeg of imageio-ffmpeg."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from stsa.errors import MediaError

FPS = 25
ENCODE_CRF = 12  # near-transparent H.264 for generated videos, so encoding barely moves PSNR


@cache
def ffmpeg_exe() -> str:
    """Path of an ffmpeg binary: the one on PATH, else imageio-ffmpeg's."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ensure_ffmpeg_on_path() -> str:
    """Put a directory with an ``ffmpeg`` executable on PATH (for tools that call it by name)."""
    exe = ffmpeg_exe()
    if Path(exe).name != "ffmpeg":
        link_dir = Path(tempfile.gettempdir()) / f"stsa-bench-ffmpeg-{os.getuid()}"
        link_dir.mkdir(exist_ok=True)
        link = link_dir / "ffmpeg"
        if not link.exists():
            link.symlink_to(exe)
        exe = str(link)
    bin_dir = str(Path(exe).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return exe


def run_ffmpeg(args: list[str], src: str | Path) -> None:
    """Run ffmpeg with an argument list; a failure raises MediaError naming ``src``."""
    cmd = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-nostdin", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise MediaError(src, f"ffmpeg failed: {' | '.join(tail) or 'exit ' + str(proc.returncode)}",
                         "check the file plays in a media player; re-encode it with ffmpeg")


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds."""

    path: Path
    fps: float | None
    n_frames: int | None
    width: int | None
    height: int | None
    duration: float | None
    audio_rate: int | None
    audio_channels: int | None

    @property
    def has_video(self) -> bool:
        return self.width is not None

    @property
    def has_audio(self) -> bool:
        return self.audio_rate is not None


def probe(path: str | Path) -> MediaInfo:
    """Streams of a media file; unreadable files raise MediaError."""
    import av

    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file not found", "check the path")
    try:
        with av.open(str(path)) as container:
            v = container.streams.video[0] if container.streams.video else None
            a = container.streams.audio[0] if container.streams.audio else None
            duration = container.duration / 1e6 if container.duration else None
            fps = float(v.average_rate) if v is not None and v.average_rate else None
            n_frames = v.frames if v is not None and v.frames else None
            if n_frames is None and fps and duration:
                n_frames = round(fps * duration)
            return MediaInfo(
                path, fps, n_frames,
                v.codec_context.width if v is not None else None,
                v.codec_context.height if v is not None else None,
                duration,
                a.codec_context.sample_rate if a is not None else None,
                a.codec_context.channels if a is not None else None,
            )
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"unreadable media ({exc.__class__.__name__}: {exc})",
                         "the file is corrupt or truncated; re-download or re-encode it") from exc


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decoded frames, each (H, W, 3) uint8 RGB."""
    import av

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(path, "no video stream", "pass a video file")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"decoding failed ({exc})",
                         "the file is corrupt or truncated; re-download or re-encode it") from exc


def read_frames(path: str | Path) -> np.ndarray:
    """All frames of a video: (T, H, W, 3) uint8 RGB. A video without decodable frames raises MediaError."""
    frames = list(iter_frames(path))
    if not frames:
        raise MediaError(path, "no decodable video frames", "the file is empty, corrupt or truncated")
    return np.stack(frames)


def normalise_video(src: str | Path, dst: str | Path, fps: int = FPS) -> None:
    """Re-encode ``src`` to ``fps`` (frame-rate conversion by ffmpeg's fps filter), video only, near-lossless."""
    run_ffmpeg(["-i", str(src), "-an", "-vf", f"fps={fps}", "-c:v", "libx264", "-crf", str(ENCODE_CRF),
                "-preset", "veryfast", "-pix_fmt", "yuv420p", str(dst)], src)


def write_video(path: str | Path, frames: np.ndarray, fps: int = FPS, audio: str | Path | None = None,
                crf: int = ENCODE_CRF) -> None:
    """Encode (T, H, W, 3) uint8 RGB frames as H.264 mp4, muxing ``audio`` as AAC when given.

    The video keeps its length; audio is cut or padded with silence to it.
    """
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    n, h, w, _ = frames.shape
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    args = [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{w}x{h}", "-r", str(fps), "-i", "-"]
    if audio is not None:
        args += ["-i", str(audio)]
    args += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-crf", str(crf), "-preset", "veryfast",
             "-pix_fmt", "yuv420p"]
    if audio is not None:
        args += ["-c:a", "aac", "-b:a", "128k", "-af", "apad", "-t", f"{n / fps:.6f}"]
    args += [str(path)]
    proc = subprocess.run(args, input=frames.tobytes(), capture_output=True)
    if proc.returncode != 0:
        raise MediaError(path, f"ffmpeg could not write the video: {proc.stderr.decode(errors='replace')[-300:]}",
                         "check free disk space and the audio file")
