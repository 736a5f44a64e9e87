# Tables in the paper's layout, their JSON twins (DVC metrics), per-video tables, the paper comparison.


rule table:
    input:
        table_inputs,
    output:
        table=f"{R}/{{table}}.csv",
        json=f"{R}/{{table}}.json",
        per_video=f"{R}/{{table}}_per_video.csv",
        provenance=f"{R}/{{table}}_provenance.json",
    params:
        spec=table_spec,
        config_hash=config_hash(),
    wildcard_constraints:
        table=r"table[123]",
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/tables/{{table}}.log",
    script:
        "../scripts/table.py"


rule paper_comparison:
    input:
        comparison_inputs,
    output:
        f"{R}/paper_comparison.csv",
    params:
        paper_dir=config.get("paper_tables"),
        tables=comparison_tables(),
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/tables/paper_comparison.log",
    script:
        "../scripts/paper_comparison.py"
