"""Snakemake script: set each regenerated value beside the paper's, with the difference."""

from pathlib import Path

from stsa.tables import paper_comparison

snakemake = globals()["snakemake"]
results_dir = Path(snakemake.input[0]).parent
table = paper_comparison(results_dir, Path(snakemake.params.paper_dir), snakemake.params.tables)
table.to_csv(snakemake.output[0], index=False)
