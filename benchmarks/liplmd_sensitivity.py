"""How far LipLMD moves under image degradations that carry no lip-shape error, next to Reference-copy:

    .venv/bin/python benchmarks/liplmd_sensitivity.py --data work/preprocessed/lrs2/test --split test --frames 40

Each ground-truth crop sequence is degraded (Gaussian blur, +-6 grey-level noise, a one-frame lag) and scored with
`metrics.liplmd` against itself; Reference-copy (the release's median-openness frame) is the baseline a dubbing
method must beat. FaceMesh on the 128 crops, as `stsa-bench evaluate` computes it (no video codec).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the metrics package, not benchmarks/metrics.py


def degradations(gt: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """(T,128,128,3) uint8 -> name -> degraded copy (T,128,128,3) uint8."""
    import cv2

    noise = np.random.default_rng(seed).integers(-6, 7, gt.shape)
    return {
        "blur sigma 1": np.stack([cv2.GaussianBlur(f, (0, 0), 1.0) for f in gt]),
        "blur sigma 2": np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in gt]),
        "noise +-6": np.clip(gt.astype(int) + noise, 0, 255).astype(np.uint8),
        "one-frame lag": np.concatenate([gt[:1], gt[:-1]]),
    }


def main() -> None:
    from baselines.trivial import reference_copy_crops, reference_index
    from metrics.liplmd import PAD, lip_landmarks, liplmd
    from stsa.data.clip import ClipData
    from stsa.data.facemesh import FaceMeshDetector
    from stsa.train.data import find_clips

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="preprocessed root with manifest.csv")
    ap.add_argument("--split", default="test")
    ap.add_argument("--frames", type=int, default=40, help="frames per clip")
    args = ap.parse_args()

    detector = FaceMeshDetector(pad=PAD)
    scores: dict[str, list[float]] = {}
    clips = find_clips(args.data, args.split)
    for cid in clips:
        clip = ClipData.load(args.data / cid)
        crops = np.asarray(clip.crops)
        gt = crops[:args.frames]
        variants = degradations(gt)
        variants["Reference-copy"] = reference_copy_crops(crops, reference_index(clip.openness))[
            :args.frames]
        gt_lips, gt_found = lip_landmarks(detector, gt)
        for name, pred in variants.items():
            lips, found = lip_landmarks(detector, pred)
            scores.setdefault(name, []).append(liplmd(lips, gt_lips, found, gt_found)[0])
    print(json.dumps({"data": str(args.data), "clips": len(clips), "frames": args.frames,
                      "liplmd": {k: round(float(np.nanmean(v)), 4) for k, v in scores.items()}}))


if __name__ == "__main__":
    main()
