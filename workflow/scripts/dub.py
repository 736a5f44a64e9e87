"""Snakemake script: run one method's adapter on the ok clips of the test split; one row per clip."""

import logging
import os
from pathlib import Path

import pandas as pd
import torch

from baselines.base import ClipJob
from baselines.run import run_method
from stsa.logs import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])
# the configured threads, not the job's (Snakemake caps those at --cores): the videos must not depend on --cores
torch.set_num_threads(snakemake.params.torch_threads)
if snakemake.params.weights_dir:  # released weights (and the external adapters' subprocesses) are looked up there
    os.environ["STSA_BENCH_WEIGHTS"] = snakemake.params.weights_dir

spec = snakemake.params.method
options = dict(spec["options"])
for key in ("stsa", "wav2lip"):  # checkpoints this workflow trained
    if key in snakemake.input.keys():  # noqa: SIM118  (Namedlist: `in` tests values, not names)
        options.setdefault("checkpoint", snakemake.input[key])

manifest = pd.read_csv(snakemake.input.manifest, dtype={"clip": str})
gt_root = Path(snakemake.input.manifest).parent
out_dir = Path(snakemake.params.out_dir)
jobs = [
    ClipJob(clip_id=clip, clip_dir=gt_root / clip, audio=gt_root / clip / "audio.wav", out_path=out_dir / f"{clip}.mp4")
    for clip in manifest.loc[manifest["status"] == "ok", "clip"]
]
device = None if snakemake.params.device == "auto" else snakemake.params.device
rows = run_method(spec["adapter"], options, jobs, device=device, required=spec["required"])
rows.to_csv(snakemake.output[0], index=False)
logging.info("%s: %s", snakemake.wildcards.method, rows["status"].value_counts().to_dict() if len(rows) else {})
