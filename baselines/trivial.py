"""Trivial rows: GT (the clip itself) and Reference-copy (lower face pasted from one reference frame)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from baselines.base import Adapter, AdapterStatus, ClipJob

LOWER_HALF = 64  # first row of the lower half of a 128 crop


def remux_with_audio(video: str | Path, audio: str | Path, out: str | Path) -> None:
    """Copy ``video``'s H.264 bitstream unchanged (lossless) and mux ``audio`` as AAC, cut to the video length."""
    from stsa.data.video import probe, run_ffmpeg

    info = probe(video)
    args = ["-i", str(video), "-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
            "-c:a", "aac", "-b:a", "128k", "-af", "apad"]
    if info.duration:
        args += ["-t", f"{info.duration:.6f}"]
    run_ffmpeg([*args, str(out)], video)


class GTAdapter(Adapter):
    """The ground-truth clip, re-muxed with the driving audio: PSNR 100 (the per-frame cap) / SSIM 1 against itself."""

    name, label, version = "gt", "GT", "remux"

    def dub_one(self, job: ClipJob) -> None:
        remux_with_audio(Path(job.clip_dir) / "video.mp4", job.audio, job.out_path)


def reference_index(openness: np.ndarray) -> int:
    """The reference frame: the middle of the release's 5 references (``select_references`` of the clip's mouth
    openness, i.e. the median-openness frame)."""
    from stsa.data.landmarks import select_references

    return int(select_references(openness, 5)[2])


def reference_copy_crops(crops: np.ndarray, ref: int) -> np.ndarray:
    """(T, 128, 128, 3) -> the same crops with rows 64-127 taken from crop ``ref``."""
    out = crops.copy()
    out[:, LOWER_HALF:] = crops[ref, LOWER_HALF:]
    return out


class ReferenceCopyAdapter(Adapter):
    """Lower half of each 128 crop replaced by a reference frame's, pasted back into the full frame."""

    name, label, version = "reference-copy", "Reference-copy", "median-openness-ref"

    def dub_one(self, job: ClipJob) -> None:
        from stsa.data.clip import ClipData
        from stsa.data.crops import paste_faces
        from stsa.data.video import write_video

        clip = ClipData.load(job.clip_dir)
        faces = reference_copy_crops(clip.crops, reference_index(clip.openness))
        write_video(job.out_path, paste_faces(clip.read_frames(), faces, clip.boxes), audio=job.audio)

    def status(self) -> AdapterStatus:
        return AdapterStatus(True)
