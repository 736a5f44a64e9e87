"""Snakemake script: the status rows of one batch of preprocessed clips, as a JSON list (the manifest's unit)."""

import json
import logging
from pathlib import Path

from stsa.data.clip import read_status
from stsa.logs import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])

rows = [read_status(Path(path).parent) for path in snakemake.input]
Path(snakemake.output[0]).write_text(json.dumps(rows, default=str))
logging.info("batch %s of %s/%s: %d clips", snakemake.wildcards.batch, snakemake.wildcards.dataset,
             snakemake.wildcards.split, len(rows))
