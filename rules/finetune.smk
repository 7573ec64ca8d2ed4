# Fine-tuning from a selection: stage 1 (source + active CE), then target anchors and pseudo-labels
# from the stage-1 model, then a semi-supervised stage from stage 1: MADA stage 2 (+ pseudo-label CE
# + soft anchor alignment with EMA anchors) or MADAv2 (teacher consistency with OHEM/ACM/ACP + anchors).
FT = f"{R}/{{source}}/finetune/{{strategy}}/{{budget}}"


rule finetune_stage1:
    input:
        init=f"{R}/{{source}}/{INIT}.pt",
        selection=f"{R}/{{source}}/select/{{strategy}}/{{budget}}/selection.json",
        masks=selection_masks,
        source=lambda wc: dataset_input(wc.source),
        target=dataset_input(TARGET),
    output:
        f"{FT}/stage1.pt",
    params:
        launch=launch(True),
        config=CONFIG_JSON,
        target=TARGET,
        variant=lambda wc: variant_flag(wc.strategy),
        cfg=lambda wc: sections("seed", "train", "finetune", datasets=[wc.source, TARGET])
        + variant_overrides(wc.strategy),
    threads: config["threads"]
    resources:
        gpu=GPU_TRAIN,
        mem_mb=MEM_MB,
    log:
        f"{LOGS}/{{source}}/finetune/{{strategy}}_{{budget}}_stage1.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/finetune/{{strategy}}_{{budget}}_stage1.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} finetune --config {params.config} {params.variant} --threads {threads} --stage stage1 "
        "--init {input.init} "
        "--selection {input.selection} --source {wildcards.source} --target {params.target} "
        "--out {output} 2> {log}"


rule target_anchors:
    input:
        f"{R}/{{source}}/features/finetune/{{strategy}}/{{budget}}/stage1/target.h5",
    output:
        f"{FT}/target_anchors.npz",
    params:
        config=CONFIG_JSON,
        variant=lambda wc: variant_flag(wc.strategy),
        cfg=lambda wc: sections("seed", "mada") + variant_overrides(wc.strategy),
    log:
        f"{LOGS}/{{source}}/finetune/{{strategy}}_{{budget}}_target_anchors.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/finetune/{{strategy}}_{{budget}}_target_anchors.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "adaseg target-anchors --config {params.config} {params.variant} --features {input} --out {output} 2> {log}"


rule pseudo_labels:
    input:
        checkpoint=f"{FT}/stage1.pt",
        target=dataset_input(TARGET),
    output:
        f"{FT}/pseudo_labels.h5",
    params:
        launch=launch(),
        config=CONFIG_JSON,
        target=TARGET,
        variant=lambda wc: variant_flag(wc.strategy),
        cfg=lambda wc: sections("mada", "features", datasets=[TARGET]) + PRECISION + variant_overrides(wc.strategy),
    threads: config["threads"]
    resources:
        gpu=GPU_INFER,
        mem_mb=MEM_MB,
    log:
        f"{LOGS}/{{source}}/finetune/{{strategy}}_{{budget}}_pseudo_labels.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/finetune/{{strategy}}_{{budget}}_pseudo_labels.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} pseudo-labels --config {params.config} {params.variant} --threads {threads} --checkpoint {input.checkpoint} "
        "--target {params.target} --out {output} 2> {log}"


rule finetune_semi:
    input:
        init=f"{FT}/stage1.pt",
        selection=f"{R}/{{source}}/select/{{strategy}}/{{budget}}/selection.json",
        anchors=f"{FT}/target_anchors.npz",
        pseudo=f"{FT}/pseudo_labels.h5",
        source=lambda wc: dataset_input(wc.source),
        target=dataset_input(TARGET),
    output:
        f"{FT}/{{semi}}.pt",
    wildcard_constraints:
        semi=r"(stage2|madav2)(\+[A-Za-z0-9_]+)?",
    params:
        launch=launch(True),
        config=CONFIG_JSON,
        target=TARGET,
        stage=lambda wc: base_objective(wc.semi),
        variant=lambda wc: variant_flag(wc.strategy, wc.semi),
        cfg=lambda wc: sections("seed", "train", "finetune", "mada", "madav2", "features", datasets=[wc.source, TARGET])
        + variant_overrides(wc.strategy, wc.semi),
    threads: config["threads"]
    resources:
        gpu=GPU_TRAIN,
        mem_mb=MEM_MB,
    log:
        f"{LOGS}/{{source}}/finetune/{{strategy}}_{{budget}}_{{semi}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/finetune/{{strategy}}_{{budget}}_{{semi}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} finetune --config {params.config} {params.variant} --threads {threads} --stage {params.stage} "
        "--init {input.init} "
        "--selection {input.selection} --source {wildcards.source} --target {params.target} "
        "--target-anchors {input.anchors} --pseudo-labels {input.pseudo} --out {output} 2> {log}"
