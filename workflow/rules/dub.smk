# Dubbing: each method re-synthesises the test split (template = the clip's video, driving audio = its audio).


rule dub:
    input:
        unpack(dub_inputs),
    output:
        f"{W}/dubbed/{{dataset}}/{{method}}/runs.csv",
    params:
        method=dub_options,
        out_dir=parent_of_output,
        device=config["device"],
        weights_dir=weights_dir(),
        torch_threads=dub_threads(),
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/dub/{{dataset}}/{{method}}.log",
    benchmark:
        f"{STAGE_TIMES}/dub/{{dataset}}_{{method}}.tsv"
    threads: dub_threads()
    resources:
        mem_mb=8000,
    script:
        "../scripts/dub.py"
