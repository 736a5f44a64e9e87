"""Snakemake script: list the clips of one split of a dataset (clip id, video, audio) as a TSV (the test split cut to
the config's eval_limit, see common.smk: split_limit)."""

import csv
import logging

from stsa.data.datasets import open_dataset
from stsa.logs import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])

cfg = snakemake.params.listing
reader = open_dataset(cfg["reader"], cfg["root"], **cfg["layout"])
clips = reader.clips(snakemake.wildcards.split, limit=cfg["limit"])
with open(snakemake.output[0], "w", newline="") as handle:
    writer = csv.writer(handle, delimiter="\t")
    writer.writerow(["clip", "video", "audio", "split"])
    for clip in clips:
        writer.writerow([clip.clip_id, clip.video, clip.audio or "", clip.split])
logging.info("%d clips in %s/%s", len(clips), snakemake.wildcards.dataset, snakemake.wildcards.split)
