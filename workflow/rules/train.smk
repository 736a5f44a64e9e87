# Training on the training split: the SyncNet expert, native Wav2Lip, and STSA's stages (per Table III variant).
# The guidance stage does not depend on the stage-2 ablations, so every variant shares the full model's.
# Each job checkpoints periodically under {W}/checkpoints/<rule>/<variant>/ (outside its outputs) and resumes from
# there when it is run again after a failure; `--cores {threads}` only adds DataLoader workers (same weights).
# Each command sees the config's weights_dir as $STSA_BENCH_WEIGHTS (params.weights, common.smk: weights_env).

TRAIN = config["training"]


rule train_expert:
    input:
        manifest=train_manifest(),
    output:
        f"{W}/models/expert.pt",
    params:
        data=train_data,
        preset=TRAIN["preset"],
        steps=steps_flag("expert_steps"),
        device=config["device"],
        run=train_flags,
        checkpoints=checkpoint_dir("train_expert"),
        weights=weights_env(),
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/train/expert.log",
    benchmark:
        f"{STAGE_TIMES}/train_expert/expert.tsv"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        gpu=train_gpus,
    shell:
        "{params.weights}stsa-bench baselines train --model expert --data {params.data} --out {output} "
        "--preset {params.preset} {params.steps} --device {params.device} {params.run} --cores {threads} "
        "--nproc {resources.gpu} --checkpoint-dir {params.checkpoints} > {log} 2>&1"


rule train_wav2lip:
    input:
        manifest=train_manifest(),
        expert=f"{W}/models/expert.pt",
    output:
        f"{W}/models/wav2lip.pt",
    params:
        data=train_data,
        preset=TRAIN["preset"],
        steps=steps_flag("wav2lip_steps"),
        device=config["device"],
        run=train_flags,
        checkpoints=checkpoint_dir("train_wav2lip"),
        weights=weights_env(),
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/train/wav2lip.log",
    benchmark:
        f"{STAGE_TIMES}/train_wav2lip/wav2lip.tsv"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        gpu=train_gpus,
    shell:
        "{params.weights}stsa-bench baselines train --model wav2lip --data {params.data} --out {output} --expert {input.expert} "
        "--preset {params.preset} {params.steps} --device {params.device} {params.run} --cores {threads} "
        "--nproc {resources.gpu} --checkpoint-dir {params.checkpoints} > {log} 2>&1"


rule train_stsa_guidance:
    input:
        manifest=train_manifest(),
    output:
        f"{W}/models/stsa/full/guidance.pt",
    params:
        data=train_data,
        preset=TRAIN["preset"],
        steps=steps_flag("guidance_steps"),
        device=config["device"],
        run=train_flags,
        checkpoints=checkpoint_dir("train_stsa_guidance"),
        weights=weights_env(),
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/train/stsa_guidance.log",
    benchmark:
        f"{STAGE_TIMES}/train_stsa_guidance/full.tsv"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        gpu=train_gpus,
    shell:
        "{params.weights}stsa-bench train --stage guidance --config {params.preset} --data {params.data} --out {output} "
        "{params.steps} --device {params.device} {params.run} --cores {threads} "
        "--nproc {resources.gpu} --checkpoint-dir {params.checkpoints} > {log} 2>&1"


rule train_stsa_synthesis:
    input:
        unpack(synthesis_inputs),
    output:
        f"{W}/models/stsa/{{variant}}/synthesis.pt",
    params:
        data=train_data,
        preset=TRAIN["preset"],
        steps=steps_flag("synthesis_steps"),
        device=config["device"],
        run=train_flags,
        checkpoints=checkpoint_dir("train_stsa_synthesis"),
        weights=weights_env(),
        ablation=ablation_flag,
        expert=expert_flag,
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/train/stsa_synthesis_{{variant}}.log",
    benchmark:
        f"{STAGE_TIMES}/train_stsa_synthesis/{{variant}}.tsv"
    threads: workflow.cores
    resources:
        mem_mb=12000,
        gpu=train_gpus,
    shell:
        "{params.weights}stsa-bench train --stage synthesis --config {params.preset} --data {params.data} --out {output} "
        "{params.steps} --ablation {params.ablation} {params.expert} --device {params.device} {params.run} --cores {threads} "
        "--nproc {resources.gpu} --checkpoint-dir {params.checkpoints} > {log} 2>&1"


rule finetune_stsa:
    input:
        unpack(synthesis_inputs),
        guidance=f"{W}/models/stsa/full/guidance.pt",
        synthesis=synthesis_checkpoint,
    output:
        f"{W}/models/stsa/{{variant}}/finetune.pt",
    params:
        data=train_data,
        preset=TRAIN["preset"],
        steps=steps_flag("finetune_steps"),
        device=config["device"],
        run=train_flags,
        checkpoints=checkpoint_dir("finetune_stsa"),
        weights=weights_env(),
        ablation=ablation_flag,
        expert=expert_flag,
    conda:
        "../envs/stsa-bench.yaml"
    log:
        f"{W}/logs/train/stsa_finetune_{{variant}}.log",
    benchmark:
        f"{STAGE_TIMES}/finetune_stsa/{{variant}}.tsv"
    threads: workflow.cores
    resources:
        mem_mb=12000,
        gpu=train_gpus,
    shell:
        "{params.weights}stsa-bench train --stage finetune --config {params.preset} --data {params.data} --out {output} "
        "--guidance {input.guidance} --synthesis {input.synthesis} {params.steps} "
        "--ablation {params.ablation} {params.expert} --device {params.device} {params.run} --cores {threads} "
        "--nproc {resources.gpu} --checkpoint-dir {params.checkpoints} > {log} 2>&1"
