"""Mouth-region PSNR of a method's outputs against the ground truth (a quick sanity check, not a table metric).

    python -m baselines.sanity --clips-root DIR --split-list FILE --out-dirs DIR1 DIR2 ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def mouth_psnr(video: str | Path, clip_dir: str | Path) -> float:
    """PSNR (dB, RGB in [0,1]) of rows 64-127 of the 128 crops, per frame then averaged over frames."""
    from metrics.inputs import crop_prediction
    from stsa.data.clip import ClipData

    clip = ClipData.load(clip_dir)
    crops, _ = crop_prediction(Path(video), clip.boxes, tuple(clip.frame_size) if clip.frame_size is not None else None)
    n = len(crops)
    out = crops[:, 64:].astype(np.float64) / 255
    gt = clip.crops[:n, 64:].astype(np.float64) / 255
    mse = ((out - gt) ** 2).reshape(n, -1).mean(axis=1)
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-12))))


def main(argv: list[str] | None = None) -> int:
    from baselines.cli import read_split_list

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips-root", required=True)
    p.add_argument("--split-list", required=True)
    p.add_argument("--out-dirs", nargs="+", required=True)
    a = p.parse_args(argv)
    ids = read_split_list(a.split_list)
    for d in a.out_dirs:
        vals = [mouth_psnr(Path(d) / f"{c}.mp4", Path(a.clips_root) / c) for c in ids
                if (Path(d) / f"{c}.mp4").is_file()]
        print(f"{d}: mouth PSNR {np.mean(vals):.3f} dB over {len(vals)} clips")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
