# Evaluation: the configured metrics of one method on one dataset, against the preprocessed ground truth.


rule evaluate:
    input:
        runs=f"{W}/dubbed/{{dataset}}/{{method}}/runs.csv",
        gt=gt_manifest,
    output:
        per_video=f"{R}/per_video/{{dataset}}/{{method}}.csv",
        summary=f"{R}/per_method/{{dataset}}/{{method}}.json",
    params:
        gt_dir=parent_of_input("gt"),
        pred_dir=parent_of_input("runs"),
        metrics=config["metrics"],
        metric_options=canonical(config.get("metric_options") or {}),
        cache_dir=gt_cache_dir,
        device=config["device"],
        weights_dir=weights_dir(),
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/evaluate/{{dataset}}/{{method}}.log",
    benchmark:
        f"{STAGE_TIMES}/evaluate/{{dataset}}_{{method}}.tsv"
    threads: workflow.cores
    resources:
        mem_mb=8000,
    script:
        "../scripts/evaluate.py"
