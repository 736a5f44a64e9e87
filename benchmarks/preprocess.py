"""Preprocessing throughput vs its floor (decode + FaceMesh alone on the same 25 fps frames), side by side.

    .venv/bin/python benchmarks/preprocess.py [--clips /work/shared/clips/real] [--repeats 2]

Builds a temporary LRS2-layout corpus from the 25 fps clips in ``--clips`` (symlinks) and runs
``preprocess_dataset`` on it; the 30 fps template with its separate 44.1 kHz audio (when present) runs through
``preprocess_clip`` as a second row (includes the 30 -> 25 fps re-encode). Full run and floor alternate
``--repeats`` times; the best time of each is reported. Goal: full / floor >= 0.7 (frames/s ratio).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_CLIPS = Path(__file__).resolve().parents[2] / "shared" / "clips" / "real"


def main(argv: list[str] | None = None) -> int:
    from stsa.data.datasets import Clip
    from stsa.data.facemesh import FaceMeshDetector
    from stsa.data.preprocess import preprocess_clip, preprocess_dataset
    from stsa.data.video import probe, read_frames

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    sources = sorted(p for p in args.clips.glob("*.mp4") if (probe(p).fps or 0) == 25 and probe(p).has_audio)
    if not sources:
        print(f"no 25 fps clips with audio in {args.clips}", file=sys.stderr)
        return 1
    template, driving = args.clips / "template_129_30fps_noaudio.mp4", args.clips / "driving_audio2.wav"

    with tempfile.TemporaryDirectory() as tmp:
        root, out = Path(tmp) / "lrs2", Path(tmp) / "pre"
        for i, src in enumerate(sources):
            dst = root / "mvlrs_v1" / "main" / "bench" / f"{i:05d}.mp4"
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src.resolve())
        (root / "test.txt").write_text("".join(f"bench/{i:05d}\n" for i in range(len(sources))))
        tclip = Clip("template", template, driving, "test") if template.is_file() and driving.is_file() else None

        def full_lrs2() -> int:
            df = preprocess_dataset("lrs2", root, out, "test")
            assert (df["status"] == "ok").all(), df["reason"].tolist()
            return int(df["n_frames"].sum())

        def full_template() -> int:
            with FaceMeshDetector() as det:
                row = preprocess_clip(tclip, out / "template", detector=det)
            assert row["status"] == "ok", row["reason"]
            return int(row["n_frames"])

        def floor(videos: list[Path]) -> int:
            n = 0
            with FaceMeshDetector() as det:
                for v in videos:
                    frames = read_frames(v)
                    det.detect_many(frames)
                    n += len(frames)
            return n

        lrs2_videos = [out / "bench" / f"{i:05d}" / "video.mp4" for i in range(len(sources))]
        cases = [("25 fps clips (LRS2 layout, stream copy)", full_lrs2, lambda: floor(lrs2_videos))]
        if tclip is not None:
            cases.append(("30 fps template + 44.1 kHz stereo wav", full_template,
                          lambda: floor([out / "template" / "video.mp4"])))
        print(f"{'case':42s} {'frames':>6s} {'full fps':>9s} {'floor fps':>9s} {'ratio':>6s}")
        for name, run_full, run_floor in cases:
            best_full = best_floor = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                n = run_full()
                t1 = time.perf_counter()
                n_floor = run_floor()
                t2 = time.perf_counter()
                assert n == n_floor
                best_full, best_floor = min(best_full, t1 - t0), min(best_floor, t2 - t1)
            print(f"{name:42s} {n:6d} {n / best_full:9.1f} {n / best_floor:9.1f} {best_floor / best_full:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
