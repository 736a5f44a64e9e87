"""Snakemake script: gather the status.json of every clip of a split into manifest.csv."""

import json
import logging

import pandas as pd

from stsa.logs import log_to_file

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])

rows = []
for path in snakemake.input:
    with open(path) as handle:
        rows.append({**json.load(handle), "split": snakemake.wildcards.split})
table = pd.DataFrame(rows)
table.to_csv(snakemake.output[0], index=False)
counts = table["status"].value_counts().to_dict() if len(table) else {}
logging.info("%s/%s: %s", snakemake.wildcards.dataset, snakemake.wildcards.split, counts)
