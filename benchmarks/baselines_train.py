"""Native Wav2Lip demo training cost: seconds per step of the expert and the generator (demo preset) with 1 and 2
torch threads side by side, and the projected time of the demo schedule against its budget (expert <= 2 min,
generator <= 4 min on 2 CPU cores).

    .venv/bin/python benchmarks/baselines_train.py --data DIR [--steps 15]

``--data``: a preprocessed root (manifest.csv with a train split, or clip dirs with clip.npz).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

BUDGET_S = {"expert": 120.0, "wav2lip": 240.0}


def seconds_per_step(model: str, data: Path, steps: int, threads: int, expert: Path | None) -> float:
    """(time of a 2 + ``steps`` step run - time of a 2-step run) / ``steps``: setup and warm-up cancel out."""
    from baselines.wav2lip.train import train_expert, train_wav2lip

    torch.set_num_threads(threads)
    fn = train_expert if model == "expert" else train_wav2lip
    kwargs = {} if model == "expert" else {"expert": expert}
    seconds = {}
    for n in (2, 2 + steps):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            fn(data, Path(tmp) / "ckpt.pt", steps=n, progress=False, **kwargs)
            seconds[n] = time.perf_counter() - t0
    return (seconds[2 + steps] - seconds[2]) / steps


def main() -> None:
    from baselines.wav2lip.train import TrainConfig, train_expert

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--steps", type=int, default=15)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        expert = Path(tmp) / "expert.pt"
        train_expert(a.data, expert, steps=1, progress=False)
        for model in ("expert", "wav2lip"):
            total = TrainConfig.preset(model, "demo").steps
            res = {t: seconds_per_step(model, a.data, a.steps, t, expert) for t in (1, 2)}
            print(f"{model:8s} s/step: 1 thread {res[1]:.3f}, 2 threads {res[2]:.3f} (ratio 2t/1t "
                  f"{res[2] / res[1]:.2f}); demo schedule {total} steps -> {total * min(res.values()):.0f} s "
                  f"(budget {BUDGET_S[model]:.0f} s)")


if __name__ == "__main__":
    main()
