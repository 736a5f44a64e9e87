"""Snakemake script: results/report.html from the configured tables."""

import logging
from pathlib import Path

from stsa.logs import log_to_file
from stsa.report import build_report

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])

out = build_report(
    [Path(t) for t in snakemake.input.tables], {k: Path(v) for k, v in snakemake.params.gt_dirs.items()},
    Path(snakemake.params.dubbed_root), Path(snakemake.output[0]), n_boot=snakemake.params.n_boot,
    seed=snakemake.params.seed,
)
logging.info("wrote %s", out)
