# Preprocessing: one job per clip (25 fps, 16 kHz, FaceMesh, crops, mel), gathered in batches, then a manifest
# per split. A clip's job depends on its own media files and listing fields only (not on the listing file), so
# adding or removing clips, or editing another dataset key, re-runs no other clip. On a cluster, a batch
# (`clips_per_batch` listed clips) and its clips' jobs form one group: one cluster job per batch (`groups` in
# workflow/profiles/slurm/config.yaml). A batch job only gathers statuses, so a shifted batch re-runs no clip.


rule preprocess_clip:
    input:
        unpack(clip_sources),
    output:
        f"{W}/preprocessed/{{dataset}}/{{split}}/{{clip}}/status.json",
    params:
        settings=canonical(config["preprocess"]),
        clip=clip_fields,
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


rule preprocess_batch:
    input:
        batch_statuses,
    output:
        f"{W}/preprocess_batches/{{dataset}}/{{split}}/{{batch}}.json",
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/preprocess_batch/{{dataset}}/{{split}}/{{batch}}.log",
    resources:
        mem_mb=1000,
    script:
        "../scripts/preprocess_batch.py"


rule manifest:
    input:
        split_batches,
    output:
        f"{W}/preprocessed/{{dataset}}/{{split}}/manifest.csv",
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/manifest/{{dataset}}_{{split}}.log",
    script:
        "../scripts/manifest.py"
