"""Running a method's official inference code in its own Python environment, and bringing its output back to the
suite's contract (25 fps, the ground truth's frame size and length, driving audio muxed).

A method is described by an ``OfficialMethod`` (see methods.py). Per clip the adapter stages the inputs in a temp
work dir with space-free names (the official scripts build ffmpeg shell strings), removes what an earlier run left
in the checkout's own output folders, runs the command built as an argument list with ``cwd=repo``, checks that
the output exists where the official code writes it and is newer than the run, aligns it in time and space, and
writes ``out_path``. The process's stdout/stderr is always kept at ``<clip_id>.log`` beside the expected output.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from baselines.base import Adapter, AdapterStatus, ClipJob, sha256
from stsa.data.clip import ClipData
from stsa.errors import MediaError

FPS = 25
TRACEBACK = "Traceback (most recent call last)"


@dataclass(frozen=True)
class Checkpoint:
    """A file the official code needs, relative to its repository checkout."""

    path: str
    size: str
    source: str
    option: str = ""  # adapter option that replaces ``path`` (e.g. "checkpoint")
    unless_option: str = ""  # not needed when this option is given (e.g. the face detector with "box")
    fetched_by: str = ""  # the official lines that download it from ``source`` at run time when it is absent


@dataclass(frozen=True)
class RuntimeDownload:
    """A file a library called by the official code downloads at run time into the torch hub cache."""

    file: str  # name inside <torch home>/hub/checkpoints
    url: str
    by: str  # which code fetches it

    def cached_path(self) -> Path:
        """Where torch.hub puts it for this user ($TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch)."""
        home = os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "torch")
        return Path(home) / "hub" / "checkpoints" / self.file


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

    @property
    def token(self) -> str:
        """A name unique to this run (the work dir's), for outputs the official code writes inside the repo."""
        return re.sub(r"[^A-Za-z0-9]", "", self.work.name)


@dataclass(frozen=True)
class OfficialMethod:
    """One compared method's public code: repository, pinned commit, files, device, environment, command, and
    where and in which geometry/timing its output comes out."""

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
    output_path: Callable[[RunContext], Path] | None = None  # else: a video file or a folder of numbered frames
    prepare: Callable[[RunContext], None] | None = None  # writes config/list files into ctx.work
    unavailable_reason: str = ""
    notes: str = ""
    required_options: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (option, what it is)
    cuda_only: bool = False  # the official code calls .cuda() unconditionally
    device: str = ""  # how the code picks its device, with the official lines
    runtime_downloads: tuple[RuntimeDownload, ...] = ()
    setup: tuple[str, ...] = ()  # exact preparation commands ($REPO: the checkout)
    frame_offset: int = 0  # GT frame index of the output's first frame
    panel: tuple[int, int] = (0, 1)  # (index, count) of the method's panel in a side-by-side output
    face_window: tuple[float, float, float, float] | None = None  # crop kind: x0,y0,x1,y1 of the staged crop covered
    duplicated_head: int = 0  # leading output frames the official code writes as copies of a later one
    repo_outputs: Callable[[RunContext], list[Path]] | None = None  # what a run writes inside the checkout
    error_markers: tuple[str, ...] = (TRACEBACK,)  # log lines of errors the official code catches (exit 0)
    seeded: bool = False  # the command runs through ``seeded`` (the seed goes into the metadata)


SEEDED = ("import random, runpy, sys; import numpy; s = int(sys.argv.pop(1)); random.seed(s); numpy.random.seed(s); "
          "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def seeded(ctx: RunContext, script: str, *args: str) -> list[str]:
    """``python script args`` with Python's and numpy's global RNGs seeded first (option ``seed``, default 0), for
    official code that draws from them unseeded."""
    return [ctx.python, "-c", SEEDED, str(int(ctx.options.get("seed", 0))), script, *args]


@functools.cache
def cuda_available(python: str) -> tuple[bool, str]:
    """Whether torch in ``python``'s environment sees a CUDA device, and what it said (one probe per interpreter)."""
    code = "import torch; print(torch.__version__, torch.cuda.is_available())"
    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"could not run {python}: {exc}"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return False, f"torch does not import in {python}: {tail[0]}"
    version, ok = (proc.stdout.split() + ["?", "False"])[:2]
    return ok == "True", f"torch {version} in {python}: torch.cuda.is_available() is {ok}"


# ------------------------------------------------------------------------------------------ output normalisation


def count_frames(path: str | Path) -> int:
    """Decoded video frames of a file (container frame counts are unreliable for avi)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return 0
            return sum(1 for _ in container.decode(container.streams.video[0]))
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"method output is not decodable ({exc})", "read the method's .log") from exc


def _video_codec(path: Path) -> str:
    import av

    with av.open(str(path)) as container:
        return container.streams.video[0].codec_context.name


def read_frame_folder(folder: str | Path) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB of the images in ``folder``, ordered by the last number in their names."""
    import cv2

    def index(p: Path) -> int:
        nums = re.findall(r"\d+", p.stem)
        return int(nums[-1]) if nums else -1

    files = sorted((p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")), key=index)
    if not files:
        raise MediaError(folder, "method output folder has no frames", "read the method's .log")
    return np.stack([cv2.imread(str(p), cv2.IMREAD_COLOR)[..., ::-1] for p in files])


def _window_boxes(boxes: np.ndarray, window: tuple[float, float, float, float]) -> np.ndarray:
    """Sub-boxes covering the fractions ``window`` = (x0, y0, x1, y1) of each box."""
    x1, y1, x2, y2 = (boxes[:, i].astype(np.float64) for i in range(4))
    w, h = x2 - x1, y2 - y1
    fx0, fy0, fx1, fy1 = window
    return np.round(np.stack([x1 + fx0 * w, y1 + fy0 * h, x1 + fx1 * w, y1 + fy1 * h], 1)).astype(np.int64)


def _align(frames: np.ndarray, head: int, n_gt: int) -> np.ndarray:
    """``head`` copies of the first frame in front, then cut to or padded with the last frame up to ``n_gt``."""
    frames = np.concatenate([np.repeat(frames[:1], head, axis=0), frames])[:n_gt]
    if len(frames) < n_gt:
        frames = np.concatenate([frames, np.repeat(frames[-1:], n_gt - len(frames), axis=0)])
    return frames


def _encode_frames(frames: np.ndarray, job: ClipJob, kind: str, head: int, n_gt: int, panel: tuple[int, int],
                   face_window: tuple[float, float, float, float] | None) -> str:
    """Decoded frames -> panel, aligned, pasted (crop) or resized (full), lossless H.264 with the audio."""
    from stsa.data.video import probe, read_frames, write_video

    i, k = panel
    w = frames.shape[2] // k
    frames = _align(frames[:, :, i * w:(i + 1) * w], head, n_gt)
    gt_video = Path(job.clip_dir) / "video.mp4"
    if kind == "crop":
        from stsa.data.crops import paste_faces

        boxes = ClipData.load(job.clip_dir).boxes[:n_gt].astype(np.int64)
        target = boxes if face_window is None else _window_boxes(boxes, face_window)
        frames = paste_faces(read_frames(gt_video)[:n_gt], frames, target)
    else:
        gt = probe(gt_video)
        if (frames.shape[2], frames.shape[1]) != (gt.width, gt.height):
            import cv2

            frames = np.stack([cv2.resize(f, (gt.width, gt.height), interpolation=cv2.INTER_AREA) for f in frames])
    write_video(job.out_path, frames, audio=job.audio, crf=0)
    return "lossless H.264 (crf 0) of the aligned frames"


def _encode_filtered(src: Path, job: ClipJob, filters: list[str], n_src: int, n_gt: int) -> str:
    """A 25 fps video of ``n_src`` frames -> ffmpeg filters -> the first ``n_gt`` frames, lossless H.264 with the
    audio; no filters and the GT's length in an H.264 mp4: the bitstream is copied."""
    from baselines.trivial import remux_with_audio
    from stsa.data.video import run_ffmpeg

    if not filters and n_src == n_gt and src.suffix == ".mp4" and _video_codec(src) == "h264":
        remux_with_audio(src, job.audio, job.out_path)
        return "stream copy"
    Path(job.out_path).parent.mkdir(parents=True, exist_ok=True)
    args = ["-i", str(src), "-i", str(job.audio), "-map", "0:v:0", "-map", "1:a:0"]
    args += ["-vf", ",".join(filters)] if filters else []
    args += ["-frames:v", str(n_gt), "-c:v", "libx264", "-qp", "0", "-preset", "veryfast", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-b:a", "128k", "-af", "apad", "-t", f"{n_gt / FPS:.6f}", str(job.out_path)]
    run_ffmpeg(args, src)
    return "lossless H.264 (qp 0) through ffmpeg filters: " + (",".join(filters) or "none")


def normalise_output(produced: str | Path, job: ClipJob, kind: str = "full", offset: int = 0,
                     panel: tuple[int, int] = (0, 1),
                     face_window: tuple[float, float, float, float] | None = None) -> dict:
    """Bring a method's video (or folder of numbered frames) to the contract, write ``job.out_path`` and return
    what was done to it, for the clip's metadata.

    Time: the output is converted to 25 fps; its first frame is GT frame ``offset``; frames missing before it and
    after its end are copies of the nearest generated frame (``frames_padded_head``/``_tail``), frames beyond the
    GT's length are dropped (``frames_cut``). Space: ``panel`` = (i, k) keeps the i-th of k side-by-side panels;
    ``full`` frames are resized to the GT size; ``crop`` frames are faces in our crop boxes (the sub-window
    ``face_window`` of them, when given), pasted into the GT frames. The driving audio is always muxed.

    Encoding: a video already at 25 fps, GT size and length (H.264 mp4) is re-muxed without re-encoding; else
    video frames go through ffmpeg filters (fps, crop, scale, tpad) into lossless H.264 (``-qp 0``, yuv420p), and
    pasted faces are encoded with crf 0 (lossless, after the RGB -> yuv420p conversion): the suite adds no lossy
    encode to the method's own.
    """
    from stsa.data.video import probe, read_frames, run_ffmpeg

    produced = Path(produced)
    gt = probe(Path(job.clip_dir) / "video.mp4")
    n_gt = ClipData.load(job.clip_dir).n_frames
    with tempfile.TemporaryDirectory() as tmp:
        frames, src, fps_in = None, produced, float(FPS)
        if produced.is_dir():
            frames = read_frame_folder(produced)
            n_src, w_in, h_in = len(frames), frames.shape[2], frames.shape[1]
        else:
            info = probe(produced)
            if not info.has_video:
                raise MediaError(produced, "method output has no video stream", "read the method's .log")
            fps_in, w_in, h_in = info.fps or 0.0, info.width, info.height
            if abs(fps_in - FPS) >= 1e-3:  # frame-rate conversion by ffmpeg's fps filter, losslessly
                src = Path(tmp) / "fps25.mkv"
                run_ffmpeg(["-i", str(produced), "-an", "-vf", f"fps={FPS}", "-c:v", "libx264", "-qp", "0",
                            "-preset", "veryfast", "-pix_fmt", "yuv420p", str(src)], produced)
            n_src = count_frames(src)
        if n_src == 0:
            raise MediaError(produced, "method output has no decodable frames", "read the method's .log")
        head = min(offset, n_gt)
        tail, cut = max(0, n_gt - head - n_src), max(0, head + n_src - n_gt)
        meta = {"frames_generated": n_src, "frames_gt": n_gt, "frame_offset": offset,
                "frames_padded": head + tail, "frames_padded_head": head, "frames_padded_tail": tail,
                "frames_cut": cut, "fps_method": round(fps_in, 3)}
        if kind == "crop" or frames is not None:
            frames = read_frames(src) if frames is None else frames
            meta["encode"] = _encode_frames(frames, job, kind, head, n_gt, panel, face_window)
            return meta
        i, k = panel
        filters = [f"crop=iw/{k}:ih:iw*{i}/{k}:0"] if k > 1 else []
        if (w_in // k, h_in) != (gt.width, gt.height):
            filters.append(f"scale={gt.width}:{gt.height}:flags=area")
        if head or tail:
            filters.append(f"tpad=start={head}:stop={tail}:start_mode=clone:stop_mode=clone")
        meta["encode"] = _encode_filtered(src, job, filters, n_src, n_gt)
        return meta


# ----------------------------------------------------------------------------------------------------- adapter


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.symlink(Path(src).resolve(), dst)
    except OSError:
        shutil.copy2(src, dst)


def _remove(paths: list[Path]) -> None:
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            p.unlink()


def error_line(log: str, markers: tuple[str, ...]) -> str:
    """The last error the official code printed (the exception line after a traceback, or a marker line)."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    found = ""
    for j, ln in enumerate(lines):
        if ln.startswith(TRACEBACK) and TRACEBACK in markers:
            after = [x for x in lines[j + 1:] if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b", x)]
            found = after[0] if after else ln
        elif any(m in ln for m in markers if m != TRACEBACK):
            found = ln
    return found


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

    def _files(self) -> list[tuple[Checkpoint, str]]:
        """The checkpoints this run needs, with their paths relative to the checkout (options applied)."""
        out = []
        for ck in self.spec.checkpoints:
            if ck.unless_option and self.options.get(ck.unless_option):
                continue
            out.append((ck, (self.options.get(ck.option) or ck.path) if ck.option else ck.path))
        return out

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
        python_ok = bool(python) and (Path(python).is_file() or shutil.which(python) is not None)
        if not python:
            missing.append(f"option python=/path/to/env/bin/python (environment: {spec.environment})")
        elif not python_ok:
            missing.append(f"python interpreter {python} (environment: {spec.environment})")
        repo = self._repo()
        if repo is None:
            missing.append(f"option repo=/path/to/checkout (git clone {spec.repo_url} && git checkout {spec.commit})")
        elif not repo.is_dir():
            missing.append(f"repository checkout {repo} (git clone {spec.repo_url} && git checkout {spec.commit})")
        else:
            for ck, rel in self._files():
                if not (repo / rel).is_file():
                    missing.append(f"{repo / rel} ({ck.size}; get it from {ck.source})")
        for opt, what in spec.required_options:
            if not self.options.get(opt):
                missing.append(f"option {opt}=... ({what})")
        cuda = None
        if spec.cuda_only and python_ok:
            ok, detail = cuda_available(python)
            if not ok:
                cuda = f"a CUDA GPU: {spec.label} is CUDA-only ({spec.device}); {detail}"
                missing.insert(0, cuda)
        if missing:
            others = [m for m in missing if m != cuda]
            reason = f"{spec.label} needs {cuda}" if cuda else ""
            if others:
                reason += ("; also missing: " if cuda else f"{spec.label} not ready: missing ") + "; ".join(others)
            return AdapterStatus(False, reason, missing)
        return AdapterStatus(True)

    def describe(self) -> list[str]:
        """What ``baselines list`` prints: device needs, files, run-time downloads, preparation commands."""
        spec = self.spec
        if spec.command is None:  # its status already says why and what to pass
            return []
        repo = str(self._repo()) if self._repo() else "$REPO"
        lines = [f"device: {'CUDA only' if spec.cuda_only else 'CPU or CUDA'}: {spec.device}"]
        for ck, rel in self._files():
            fetched = f"; downloaded at run time when absent by {ck.fetched_by}" if ck.fetched_by else ""
            lines.append(f"file: {rel} ({ck.size}; {ck.source}{fetched})")
        for dl in spec.runtime_downloads:
            cached = "cached" if dl.cached_path().is_file() else "not cached: downloaded at run time (needs internet)"
            lines.append(f"run-time download: {dl.url} -> {dl.cached_path()} by {dl.by} [{cached}]")
        lines += [f"prepare: {cmd.replace('$REPO', repo)}" for cmd in spec.setup]
        return lines

    def checkpoints(self) -> dict[str, str]:
        repo = self._repo()
        if repo is None:
            return {}
        return {rel: sha256(repo / rel) for _, rel in self._files() if (repo / rel).is_file()}

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

    def expected_output(self, ctx: RunContext) -> Path | None:
        """Where the official code writes its video (None: no file matches ``output_glob`` in out_dir)."""
        spec = self.spec
        if spec.output_path is not None:
            return spec.output_path(ctx)
        if spec.output_name:
            return ctx.out_dir / spec.output_name
        found = sorted(ctx.out_dir.glob(spec.output_glob))
        return max(found, key=lambda p: p.stat().st_mtime) if found else None

    def find_output(self, ctx: RunContext, started: float = 0.0, log: str = "", log_path: Path | None = None) -> Path:
        """The output of this run; a missing or stale one raises RuntimeError naming the expected place and the
        error the official code printed (several of them catch exceptions and exit 0)."""
        path = self.expected_output(ctx)
        where = path if path is not None else ctx.out_dir / self.spec.output_glob
        err = error_line(log, self.spec.error_markers)
        said = f"; it printed: {err[:300]}" if err else ""
        see = f" (log: {log_path})" if log_path else ""
        if path is None or not path.exists() or (path.is_dir() and not any(path.iterdir())):
            raise RuntimeError(f"{self.label}: the official command exited 0 but wrote no output at {where}{said}"
                               f"{see}")
        if path.stat().st_mtime < started - 1.0:
            raise RuntimeError(f"{self.label}: {path} is older than this run (left by an earlier run; this run "
                               f"wrote nothing there){said}{see}")
        return path

    def _precomputed(self):
        from baselines.precomputed import PrecomputedAdapter

        return PrecomputedAdapter({**self.options, "label": self.spec.label})

    def dub_one(self, job: ClipJob) -> dict | None:
        if self.spec.command is None:  # no runnable release: precomputed outputs only
            return self._precomputed().dub_one(job)
        Path(job.out_path).parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"stsa-{self.name}-"))
        repo_outputs: list[Path] = []
        try:
            ctx, cmd = self.build(job, work)
            repo_outputs = self.spec.repo_outputs(ctx) if self.spec.repo_outputs else []
            _remove(repo_outputs)  # an earlier run's files in the checkout's own output folders
            timeout = float(self.options.get("timeout", 3600))
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            from stsa.data.video import ensure_ffmpeg_on_path

            ensure_ffmpeg_on_path()
            env["PATH"] = os.environ["PATH"]
            started = time.time()
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
            produced = self.find_output(ctx, started, log, job.log_path)
            meta = normalise_output(produced, job, self.spec.output_kind, self.spec.frame_offset, self.spec.panel,
                                    self.spec.face_window)
            if self.spec.duplicated_head:
                meta["frames_duplicated_by_method"] = self.spec.duplicated_head
            if self.spec.seeded:
                meta["seed"] = int(self.options.get("seed", 0))
            return meta
        finally:
            if str(self.options.get("keep_work", "")).lower() not in ("1", "true", "yes"):
                shutil.rmtree(work, ignore_errors=True)
                _remove(repo_outputs)


def adapter_class(spec: OfficialMethod) -> type[OfficialAdapter]:
    """A registry class bound to ``spec``."""
    return type(f"Official_{spec.name.replace('-', '_')}", (OfficialAdapter,),
                {"spec": spec, "name": spec.name, "label": spec.label})
