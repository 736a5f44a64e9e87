"""Snakemake script: preprocess one clip (never fails on bad input: the status records the rejection)."""

import logging
from pathlib import Path

from stsa.data.datasets import Clip
from stsa.data.preprocess import PreprocessConfig, preprocess_clip
from stsa.logs import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])

clip_id, fields = snakemake.wildcards.clip, snakemake.params.clip  # this clip's listing row (common.smk: clip_fields)
clip = Clip(clip_id=clip_id, video=Path(fields["video"]), audio=Path(fields["audio"]) if fields["audio"] else None,
            split=fields["split"])
status = preprocess_clip(clip, Path(snakemake.output[0]).parent, PreprocessConfig(**snakemake.params.settings))
logging.info("%s: %s %s", clip_id, status["status"], status.get("reason", ""))
