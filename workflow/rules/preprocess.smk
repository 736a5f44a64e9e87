# Preprocessing: one job per clip (25 fps, 16 kHz, FaceMesh, crops, mel), then a manifest per split.


rule preprocess_clip:
    input:
        listing=f"{W}/lists/{{dataset}}/{{split}}.tsv",
    output:
        f"{W}/preprocessed/{{dataset}}/{{split}}/{{clip}}/status.json",
    params:
        settings=canonical(config["preprocess"]),
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/preprocess/{{dataset}}/{{split}}/{{clip}}.log",
    benchmark:
        f"{STAGE_TIMES}/preprocess/{{dataset}}/{{split}}/{{clip}}.tsv"
    resources:
        mem_mb=2000,
    script:
        "../scripts/preprocess_clip.py"


rule manifest:
    input:
        clip_statuses,
    output:
        f"{W}/preprocessed/{{dataset}}/{{split}}/manifest.csv",
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/manifest/{{dataset}}_{{split}}.log",
    script:
        "../scripts/manifest.py"
