"""Snakemake script: gather the status rows of a split's preprocessing batches into manifest.csv."""

import json
import logging
from pathlib import Path

from stsa.data.preprocess import write_manifest
from stsa.logs import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])

split = snakemake.wildcards.split
rows = [{**row, "split": split} for path in snakemake.input for row in json.loads(Path(path).read_text())]
table = write_manifest(Path(snakemake.output[0]).parent, rows)
counts = table["status"].value_counts().to_dict()
logging.info("%s/%s: %s", snakemake.wildcards.dataset, split, counts)
