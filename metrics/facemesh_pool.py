"""FaceMesh spread over worker processes, each graph built once per process and reused by every later run.

mediapipe's FaceMesh has no batch API and runs one image at a time on about one core (with idle gaps between its
graph threads), so the evaluator sends chunks of frames to ``workers`` child processes and goes on with the other
metrics meanwhile. Workers are plain ``python -m metrics.facemesh_pool PAD`` children speaking a small binary
protocol over pipes (no ``multiprocessing``: Snakemake scripts and notebooks have main modules that must not be
re-imported). FaceMesh in static-image mode is deterministic per image, and the worker runs the same
``FaceMeshDetector.detect_many`` on the same bytes, so the points equal the in-process detector's.
``workers=0`` runs in-process (one cached detector per process).
"""

from __future__ import annotations

import atexit
import os
import struct
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from queue import Queue
from typing import IO

import numpy as np

N_MESH = 478  # stsa.data.facemesh.N_MESH (not imported here: the parent need not import mediapipe)
CHUNK = 8  # frames per request: small enough to balance two workers on a 75-frame clip
_HEADER = struct.Struct("<III")  # n, h, w of a (n, h, w, 3) uint8 request
_ROOT = Path(__file__).resolve().parents[1]


def default_workers() -> int:
    """Cores this process may run on (``os.sched_getaffinity``), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        part = stream.read(n - len(buf))
        if not part:
            raise EOFError
        buf += part
    return bytes(buf)


def _decode_reply(data: bytes, n: int) -> tuple[np.ndarray, np.ndarray]:
    found = np.frombuffer(data[:n], np.uint8).astype(bool)
    points = np.frombuffer(data[n:], np.float32).reshape(n, N_MESH, 2).copy()
    return points, found


class _Worker:
    """One child process holding one FaceMesh graph."""

    def __init__(self, pad: float):
        env = dict(os.environ, GLOG_minloglevel="2")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
        # mediapipe's stderr chatter, shown only if the worker dies; closed in close()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "metrics.facemesh_pool", repr(pad)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env)

    def detect(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        n, h, w = frames.shape[:3]
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(_HEADER.pack(n, h, w))
            self.proc.stdin.write(frames.data)
            self.proc.stdin.flush()
            reply = _read_exact(self.proc.stdout, n + n * N_MESH * 2 * 4)
        except (BrokenPipeError, EOFError, OSError) as exc:
            raise RuntimeError(f"FaceMesh worker exited (code {self.proc.poll()}): {self._log_tail()}") from exc
        return _decode_reply(reply, n)

    def _log_tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return " | ".join(lines[-5:]) or "no output"

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # EOF ends the worker's loop
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Job:
    """Pending detections of one frame sequence; ``result()`` -> (points (T, 478, 2), found (T,))."""

    def __init__(self, parts: list[Future]):
        self.parts = parts

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        done = [p.result() for p in self.parts]
        if not done:
            return np.zeros((0, N_MESH, 2), np.float32), np.zeros(0, bool)
        return np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done])


class FaceMeshPool:
    """``submit(frames)`` -> Job of (points (T, 478, 2) float32 pixels, NaN where missed; found (T,) bool),
    the same as ``FaceMeshDetector(pad).detect_many(frames)``. Workers start (and build their graphs) at once."""

    def __init__(self, workers: int, pad: float = 0.0, chunk: int = CHUNK):
        if workers < 1:
            raise ValueError("FaceMeshPool needs at least one worker (use workers=0 via detector_for)")
        self.workers, self.pad, self.chunk = workers, pad, chunk
        self._all = [_Worker(pad) for _ in range(workers)]
        self._idle: Queue[_Worker] = Queue()
        for w in self._all:
            self._idle.put(w)
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="facemesh")

    def _run(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        worker = self._idle.get()
        try:
            return worker.detect(frames)
        finally:
            self._idle.put(worker)

    def submit(self, frames: np.ndarray) -> Job:
        return Job([self._threads.submit(self._run, frames[i:i + self.chunk])
                    for i in range(0, len(frames), self.chunk)])

    def detect_many(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.submit(frames).result()

    def alive(self) -> bool:
        return all(w.proc.poll() is None for w in self._all)

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        for w in self._all:
            w.close()


class _InProcess:
    """``workers=0``: the cached in-process detector behind the same ``submit`` interface (runs at submit)."""

    def __init__(self, pad: float):
        from stsa.data.facemesh import FaceMeshDetector

        self.pad, self.detector = pad, FaceMeshDetector(pad=pad)

    def submit(self, frames: np.ndarray) -> Job:
        out: Future = Future()
        try:
            out.set_result(self.detector.detect_many(frames))
        except Exception as exc:  # noqa: BLE001 - raised again by Job.result()
            out.set_exception(exc)
        return Job([out])

    def detect_many(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.detector.detect_many(frames)

    def alive(self) -> bool:
        return True

    def close(self) -> None:
        self.detector.close()


_POOLS: dict[tuple[int, float], FaceMeshPool | _InProcess] = {}
_LOCK = threading.Lock()


def detector_for(workers: int | None = None, pad: float = 0.0) -> FaceMeshPool | _InProcess:
    """The process-wide FaceMesh for (workers, pad), built on first use and reused (``None`` = all cores); a
    pool with a dead worker is replaced."""
    workers = default_workers() if workers is None else int(workers)
    key = (max(workers, 0), float(pad))
    with _LOCK:
        old = _POOLS.get(key)
        if old is not None and not old.alive():
            old.close()
            old = None
        if old is None:
            _POOLS[key] = FaceMeshPool(key[0], pad) if key[0] > 0 else _InProcess(pad)
        return _POOLS[key]


def workers_cpu_seconds() -> float:
    """User + system CPU seconds used so far by the live worker processes (Linux /proc; 0 elsewhere)."""
    total = 0.0
    with _LOCK:
        workers = [w for p in _POOLS.values() if isinstance(p, FaceMeshPool) for w in p._all]
    for w in workers:
        try:
            fields = Path(f"/proc/{w.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
    return total


def close_all() -> None:
    """Stop every worker and in-process graph (they are rebuilt on the next use)."""
    with _LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for p in pools:
        p.close()


atexit.register(close_all)


def _import_mediapipe_without_pyplot() -> None:
    """Import mediapipe with a placeholder ``matplotlib.pyplot``: ``mediapipe.python.solutions.drawing_utils``
    imports pyplot at module level (over half of mediapipe's import time) only for its plotting helper, which
    a worker never calls. Falls back to the plain import if the placeholder is not enough."""
    import types

    if "matplotlib" in sys.modules:
        import mediapipe  # noqa: F401
        return
    mpl, plt = types.ModuleType("matplotlib"), types.ModuleType("matplotlib.pyplot")
    mpl.__path__ = []  # a package, so that "import matplotlib.pyplot" resolves to the placeholder
    mpl.pyplot = plt  # type: ignore[attr-defined]
    sys.modules.update({"matplotlib": mpl, "matplotlib.pyplot": plt})
    try:
        import mediapipe  # noqa: F401
    except Exception:  # noqa: BLE001 - a mediapipe release that needs more of matplotlib: import it for real
        for name in [m for m in sys.modules if m == "matplotlib" or m.startswith(("matplotlib.", "mediapipe"))]:
            del sys.modules[name]
        import mediapipe  # noqa: F401


def _serve(pad: float) -> None:
    """Worker loop: read (n, h, w) + frames from stdin, answer found (n bytes) + points (n, 478, 2) float32."""
    _import_mediapipe_without_pyplot()
    from stsa.data.facemesh import FaceMeshDetector

    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(1), "wb")  # the protocol's own copy of stdout ...
    os.dup2(2, 1)  # ... so that anything printed by mediapipe goes to the log instead
    with FaceMeshDetector(pad=pad) as det:
        while True:
            try:
                n, h, w = _HEADER.unpack(_read_exact(stdin, _HEADER.size))
                frames = np.frombuffer(_read_exact(stdin, n * h * w * 3), np.uint8).reshape(n, h, w, 3)
            except EOFError:
                return
            points, found = det.detect_many(frames)
            stdout.write(found.astype(np.uint8).tobytes())
            stdout.write(np.ascontiguousarray(points, np.float32).tobytes())
            stdout.flush()


if __name__ == "__main__":
    _serve(float(sys.argv[1]))
