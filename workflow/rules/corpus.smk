# The built-in demo corpus (for datasets whose root is null) and the clip list of each split.


def synth_args(wildcards):
    """Command-line arguments of `stsa-bench synth` for a dataset's demo corpus."""
    s = dataset_cfg(wildcards.dataset)["synth"]
    if not s:
        raise ValueError(f"datasets.{wildcards.dataset}: set 'root' to a real dataset or give a 'synth' block")
    return (
        f"--layout {s['layout']} --train {s.get('train', 0)} --val {s.get('val', 0)} --test {s['test']} "
        f"--seconds {s.get('seconds', 3.0)} --seed {s.get('seed', 0)}"
    )


rule synth_corpus:
    output:
        touch(f"{W}/corpus/{{dataset}}/.complete"),
    params:
        args=synth_args,
        out=corpus_dir,
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
        f"{W}/lists/{{dataset}}/{{split}}.tsv",
    params:
        dataset=dataset_params,
    log:
        f"{W}/logs/list_clips/{{dataset}}_{{split}}.log",
    script:
        "../scripts/list_clips.py"
