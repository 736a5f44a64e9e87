"""Snakemake script: build one table (CSV in the paper's layout, JSON twin, per-video table, provenance)."""

from pathlib import Path

from stsa.logs import log_to_file
from stsa.tables import format_table, write_table

snakemake = globals()["snakemake"]
log_to_file(snakemake.log[0])

rows = write_table(
    snakemake.params.spec, [Path(p) for p in snakemake.input], snakemake.params.config_hash,
    Path(snakemake.output.table), Path(snakemake.output.json), Path(snakemake.output.per_video),
    Path(snakemake.output.provenance),
)
print(f"\n{snakemake.wildcards.table} ({snakemake.params.spec['dataset']}):")
print(format_table(rows).drop(columns=["note"]).to_string(index=False))
for _, row in rows.iterrows():
    if row["note"]:
        print(f"  {row['method']}: {row['note']}")
