"""Demo corpus generation cost: wall seconds of ``stsa-bench synth`` with the demo defaults (32 train + 8 test clips of
3 s) per layout, plus where the time goes (rig set-up, frame rendering, audio, encoding) for one clip.

    .venv/bin/python benchmarks/synth_demo.py [--clips 40] [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def cli_seconds(layout: str, clips: int, seconds: float, out: Path) -> tuple[float, float]:
    """Wall and CPU (user + sys, incl. ffmpeg) seconds of the whole command in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "stsa.cli", "synth", "--out", str(out), "--layout", layout,
                    "--clips", str(clips), "--seconds", str(seconds)], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def breakdown(layout: str, seconds: float, out: Path) -> dict[str, float]:
    """CPU seconds per stage for one clip (after photo detection)."""
    from stsa.data.facemesh import FaceMeshDetector
    from stsa.data.synth import LAYOUT_FRAME_SIZE
    from stsa.data.synth_face import build_rig, head_motion, identity_specs, load_photo, render_frame
    from stsa.data.synth_speech import plan_utterance, synthesize
    from stsa.data.video import write_video

    spec = identity_specs(1, 0)[0]
    photo = load_photo(spec.photo)
    with FaceMeshDetector() as det:
        mesh = det.detect(photo)
    t = {}
    s = time.process_time()
    rig = build_rig(photo, mesh, spec, LAYOUT_FRAME_SIZE[layout])
    t["rig (once per identity)"] = time.process_time() - s
    n = int(round(seconds * 25))
    rng = np.random.default_rng(0)
    s = time.process_time()
    utt = synthesize(plan_utterance(n, rng), spec.f0, rng)
    t["audio"] = time.process_time() - s
    motion = head_motion(n, rig.size, rng)
    s = time.process_time()
    frames = np.stack([render_frame(rig, utt.jaw_open[i], utt.lip_spread[i], motion.blink[i], motion.rotation[i],
                                    motion.translation[i], motion.scale[i]) for i in range(n)])
    t["frames"] = time.process_time() - s
    s = time.process_time()
    write_video(out / "clip.mp4", frames)
    t["encode"] = time.process_time() - s
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        for layout in ("lrs2", "cmlr"):
            parts = breakdown(layout, args.seconds, Path(tmp))
            wall, cpu = cli_seconds(layout, args.clips, args.seconds, Path(tmp) / layout)
            detail = ", ".join(f"{k} {v:.3f} s" for k, v in parts.items())
            print(f"{layout}: {args.clips} clips x {args.seconds:g} s: {wall:.1f} s wall, {cpu:.1f} s CPU "
                  f"(load {os.getloadavg()[0]:.1f}); one clip, CPU: {detail}")


if __name__ == "__main__":
    main()
