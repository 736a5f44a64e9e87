"""Snakemake script: gather the status.json of every clip of a split into manifest.csv."""

import logging
from pathlib import Path

from stsa.data.clip import read_status
from stsa.data.preprocess import write_manifest
from stsa.logs import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])

rows = [{**read_status(Path(path).parent), "split": snakemake.wildcards.split} for path in snakemake.input]
table = write_manifest(Path(snakemake.output[0]).parent, rows)
counts = table["status"].value_counts().to_dict()
logging.info("%s/%s: %s", snakemake.wildcards.dataset, snakemake.wildcards.split, counts)
