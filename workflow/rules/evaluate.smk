# Evaluation: the configured metrics of one method on one dataset, against the preprocessed ground truth.


def gt_dir(wildcards):
    """Preprocessed test split of a dataset (ground-truth crops, boxes, landmarks)."""
    return preprocessed_dir(wildcards.dataset, dataset_cfg(wildcards.dataset)["test_split"])


def gt_cache_dir(wildcards):
    """Ground-truth features (Inception statistics, landmarks, flows) cached once per dataset."""
    return f"{W}/gt_cache/{wildcards.dataset}"


rule evaluate:
    input:
        runs=f"{W}/dubbed/{{dataset}}/{{method}}/runs.csv",
    output:
        per_video=f"{R}/per_video/{{dataset}}/{{method}}.csv",
        summary=f"{R}/per_method/{{dataset}}/{{method}}.json",
    params:
        gt_dir=gt_dir,
        pred_dir=dubbed_dir,
        metrics=config["metrics"],
        cache_dir=gt_cache_dir,
        device=config["device"],
        weights_dir=config["weights_dir"],
    log:
        f"{W}/logs/evaluate/{{dataset}}/{{method}}.log",
    benchmark:
        f"{STAGE_TIMES}/evaluate/{{dataset}}_{{method}}.tsv"
    threads: workflow.cores
    resources:
        mem_mb=8000,
    script:
        "../scripts/evaluate.py"
