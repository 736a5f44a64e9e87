"""Running a method's official inference code in its own Python environment, and bringing its output back to the
suite's contract (25 fps, the ground truth's full frame size, driving audio muxed).

A method is described by an ``OfficialMethod`` (see methods.py). Per clip the adapter stages the inputs in a temp
work dir with space-free names (the official scripts build ffmpeg shell strings), runs the command built as an
argument list with ``cwd=repo``, finds the produced video, normalises it and writes ``out_path``. A failing process
leaves its combined stdout/stderr at ``<clip_id>.log`` beside the expected output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from baselines.base import Adapter, AdapterStatus, ClipJob, sha256
from stsa.errors import MediaError


@dataclass(frozen=True)
class Checkpoint:
    """A file the official code needs, relative to its repository checkout."""

    path: str
    size: str
    source: str


@dataclass
class RunContext:
    """What a command builder gets: interpreter, checkout, staged inputs, where to write, adapter options."""

    python: str
    repo: Path
    work: Path
    video: Path  # staged copy/link of the GT clip's video.mp4 (25 fps, full frames, no audio)
    audio: Path  # staged driving audio (16 kHz mono wav)
    out_dir: Path  # empty dir the method writes into
    options: dict
    clip_dir: Path
    clip_id: str = ""

    def ckpt(self, rel: str) -> str:
        return str(self.repo / rel)


@dataclass(frozen=True)
class OfficialMethod:
    """One compared method's public code: repository, pinned commit, checkpoints, environment, command."""

    name: str
    label: str
    repo_url: str
    commit: str
    checkpoints: tuple[Checkpoint, ...]
    environment: str  # the Python/library versions the code runs with
    command: Callable[[RunContext], list[str]] | None  # None: no runnable release (precomputed outputs only)
    output_kind: str = "full"  # "full": full frames; "crop": faces aligned with our boxes (pasted back)
    output_name: str | None = None  # file name inside out_dir
    output_glob: str = "**/*.mp4"  # else: the newest file matching this pattern inside out_dir
    prepare: Callable[[RunContext], None] | None = None  # writes config/list files into ctx.work
    unavailable_reason: str = ""
    notes: str = ""
    required_options: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (option, what it is)


def normalise_output(produced: str | Path, job: ClipJob, kind: str = "full") -> None:
    """Bring a method's video to the contract and write ``job.out_path``.

    ``full``: frame rate converted to 25 fps by ffmpeg, frames resized to the GT size when different, length cut or
    padded (last frame repeated) to the GT's; a video already at 25 fps, GT size and length is re-muxed losslessly.
    ``crop``: frames are faces in our crop boxes (any square size), pasted into the GT frames with the GT boxes.
    The driving audio is always muxed.
    """
    import cv2

    from baselines.trivial import remux_with_audio
    from stsa.data.video import normalise_video, probe, read_frames, write_video

    produced, gt_video = Path(produced), Path(job.clip_dir) / "video.mp4"
    info, gt = probe(produced), probe(gt_video)
    if not info.has_video:
        raise MediaError(produced, "method output has no video stream", "check the method's log")
    from stsa.data.clip import ClipData

    clip = ClipData.load(job.clip_dir)
    n_gt = clip.n_frames
    if (kind == "full" and info.fps and abs(info.fps - 25) < 1e-3 and (info.width, info.height) == (gt.width, gt.height)
            and info.n_frames == n_gt and produced.suffix == ".mp4"):
        remux_with_audio(produced, job.audio, job.out_path)
        return
    with tempfile.TemporaryDirectory() as tmp:
        src = produced
        if not info.fps or abs(info.fps - 25) >= 1e-3:
            src = Path(tmp) / "fps25.mp4"
            normalise_video(produced, src)
        frames = read_frames(src)
    frames = frames[:n_gt]
    if len(frames) < n_gt:
        frames = np.concatenate([frames, np.repeat(frames[-1:], n_gt - len(frames), axis=0)])
    if kind == "crop":
        from stsa.data.crops import paste_faces

        gt_frames = read_frames(gt_video)[:n_gt]
        boxes = clip.boxes
        frames = paste_faces(gt_frames, frames, boxes)
    elif (frames.shape[2], frames.shape[1]) != (gt.width, gt.height):
        frames = np.stack([cv2.resize(f, (gt.width, gt.height), interpolation=cv2.INTER_AREA) for f in frames])
    write_video(job.out_path, frames, audio=job.audio)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.symlink(Path(src).resolve(), dst)
    except OSError:
        shutil.copy2(src, dst)


class OfficialAdapter(Adapter):
    """Adapter running an ``OfficialMethod``. Options: ``python`` (interpreter of the method's environment),
    ``repo`` (checkout at the pinned commit), ``timeout`` (s per clip, default 3600), ``keep_work`` (bool), plus
    method-specific ones (e.g. ``checkpoint``)."""

    spec: OfficialMethod

    def __init__(self, options: dict | None = None, spec: OfficialMethod | None = None):
        super().__init__(options)
        if spec is not None:
            self.spec = spec
        self.name, self.label = self.spec.name, self.spec.label
        self.version = f"{self.spec.repo_url}@{self.spec.commit}"

    def _repo(self) -> Path | None:
        return Path(self.options["repo"]).expanduser() if self.options.get("repo") else None

    def status(self) -> AdapterStatus:
        spec = self.spec
        if spec.command is None:
            if self.options.get("dir"):
                return self._precomputed().status()
            return AdapterStatus(False, f"{spec.label}: {spec.unavailable_reason} Pass --option dir=FOLDER of "
                                        f"<clip_id>.mp4 outputs (precomputed).",
                                 [f"{spec.label} checkpoint: never released -> --option dir=FOLDER of "
                                  f"<clip_id>.mp4 outputs obtained from the authors"])
        missing = []
        python = self.options.get("python")
        if not python:
            missing.append(f"option python=/path/to/env/bin/python (environment: {spec.environment})")
        elif not (Path(python).is_file() or shutil.which(python)):
            missing.append(f"python interpreter {python} (environment: {spec.environment})")
        repo = self._repo()
        if repo is None:
            missing.append(f"option repo=/path/to/checkout (git clone {spec.repo_url} && git checkout {spec.commit})")
        elif not repo.is_dir():
            missing.append(f"repository checkout {repo} (git clone {spec.repo_url} && git checkout {spec.commit})")
        else:
            for ck in spec.checkpoints:
                if not (repo / ck.path).is_file():
                    missing.append(f"{repo / ck.path} ({ck.size}; get it from {ck.source})")
        for opt, what in spec.required_options:
            if not self.options.get(opt):
                missing.append(f"option {opt}=... ({what})")
        if missing:
            return AdapterStatus(False, f"{spec.label} not ready: missing " + "; ".join(missing), missing)
        return AdapterStatus(True)

    def checkpoints(self) -> dict[str, str]:
        repo = self._repo()
        if repo is None:
            return {}
        return {ck.path: sha256(repo / ck.path) for ck in self.spec.checkpoints if (repo / ck.path).is_file()}

    def build(self, job: ClipJob, work: Path) -> tuple[RunContext, list[str]]:
        """Stage inputs in ``work`` and return the context and the command (an argument list, no shell)."""
        (work / "out").mkdir(parents=True, exist_ok=True)
        video, audio = work / "input.mp4", work / "audio.wav"
        _link_or_copy(Path(job.clip_dir) / "video.mp4", video)
        _link_or_copy(Path(job.audio), audio)
        python = self.options.get("python") or sys.executable
        ctx = RunContext(python, self._repo() or Path.cwd(), work, video, audio, work / "out", self.options,
                         Path(job.clip_dir), job.clip_id)
        if self.spec.prepare is not None:
            self.spec.prepare(ctx)
        cmd = [str(c) for c in self.spec.command(ctx)]
        return ctx, cmd

    def find_output(self, ctx: RunContext) -> Path:
        if self.spec.output_name:
            path = ctx.out_dir / self.spec.output_name
            if not path.is_file():
                raise MediaError(path, "the official command produced no output video", "read the .log beside it")
            return path
        found = sorted(ctx.out_dir.glob(self.spec.output_glob))
        if not found:
            raise MediaError(ctx.out_dir, "the official command produced no output video", "read the .log beside it")
        return max(found, key=lambda p: p.stat().st_mtime)

    def _precomputed(self):
        from baselines.precomputed import PrecomputedAdapter

        return PrecomputedAdapter({**self.options, "label": self.spec.label})

    def dub_one(self, job: ClipJob) -> None:
        if self.spec.command is None:  # no runnable release: precomputed outputs only
            self._precomputed().dub_one(job)
            return
        Path(job.out_path).parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"stsa-{self.name}-"))
        try:
            ctx, cmd = self.build(job, work)
            timeout = float(self.options.get("timeout", 3600))
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            from stsa.data.video import ensure_ffmpeg_on_path

            ensure_ffmpeg_on_path()
            env["PATH"] = os.environ["PATH"]
            try:
                proc = subprocess.run(cmd, cwd=ctx.repo, env=env, capture_output=True, text=True, timeout=timeout)
                log = f"$ {' '.join(cmd)}\n[exit {proc.returncode}]\n{proc.stdout}\n{proc.stderr}"
                failed = proc.returncode != 0
            except subprocess.TimeoutExpired as exc:
                log, failed = f"$ {' '.join(cmd)}\n[timeout after {timeout} s]\n{exc.stdout}\n{exc.stderr}", True
            job.log_path.write_text(log)
            if failed:
                tail = " | ".join(log.strip().splitlines()[-2:])
                raise RuntimeError(f"{self.label} inference failed (log: {job.log_path}): {tail[-300:]}")
            normalise_output(self.find_output(ctx), job, self.spec.output_kind)
        finally:
            if str(self.options.get("keep_work", "")).lower() not in ("1", "true", "yes"):
                shutil.rmtree(work, ignore_errors=True)


def adapter_class(spec: OfficialMethod) -> type[OfficialAdapter]:
    """A registry class bound to ``spec``."""
    return type(f"Official_{spec.name.replace('-', '_')}", (OfficialAdapter,),
                {"spec": spec, "name": spec.name, "label": spec.label})
