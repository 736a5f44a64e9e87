"""Snakemake script: preprocess one clip (never fails on bad input: the status records the rejection)."""

import csv
import logging
from pathlib import Path

from stsa.data.datasets import Clip
from stsa.data.preprocess import PreprocessConfig, preprocess_clip
from stsa.logs import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])

clip_id = snakemake.wildcards.clip
with open(snakemake.input.listing, newline="") as handle:
    row = next(r for r in csv.DictReader(handle, delimiter="\t") if r["clip"] == clip_id)
clip = Clip(clip_id=clip_id, video=Path(row["video"]), audio=Path(row["audio"]) if row["audio"] else None,
            split=row["split"])
status = preprocess_clip(clip, Path(snakemake.output[0]).parent, PreprocessConfig(**snakemake.params.settings))
logging.info("%s: %s %s", clip_id, status["status"], status.get("reason", ""))
