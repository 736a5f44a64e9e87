# The built-in demo corpus (for datasets whose root is null) and the clip list of each split.


rule synth_corpus:
    output:
        touch(f"{W}/corpus/{{dataset}}/.complete"),
    params:
        args=synth_args,
        out=parent_of_output,
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/synth_corpus/{{dataset}}.log",
    benchmark:
        f"{STAGE_TIMES}/synth_corpus/{{dataset}}.tsv"
    shell:
        "stsa-bench synth --out {params.out} {params.args} > {log} 2>&1"


checkpoint list_clips:
    input:
        corpus_marker,
    output:
        listing_path("{dataset}", "{split}"),
    params:
        listing=listing_params,
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/list_clips/{{dataset}}_{{split}}.log",
    script:
        "../scripts/list_clips.py"
