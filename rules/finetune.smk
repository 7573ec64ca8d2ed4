# Fine-tuning: round r of R of a chain with one objective (src/adaseg/registry/objectives.py) from
# the model of round r-1 (round 1: the warm-up) on everything labelled so far, training round r's
# share of one poly schedule. A semi-supervised objective (MADA stage 2, MADAv2 step 3) starts from
# the stage-1 run of the same selection and reads that model's k-means target anchors and
# pseudo-labels (rules target_anchors, pseudo_labels).


rule finetune:
    input:
        unpack(finetune_inputs),
        unpack(annotated_label_inputs),
    output:
        ckpt=f"{FTR}.pt",
        curve=f"{FTR}.curve.csv",
    params:
        launch=launch(True),
        target=TARGET,
        objective=lambda wc: objective(wc.objective).name,
        semi=semi_flags,
        oracle=oracle_flags,
        variant=lambda wc: variant_flag(wc.strategy, wc.objective),
        cfg=lambda wc: sections("train", "finetune", "multi_round", *objective(wc.objective).config,
                                datasets=[wc.source, TARGET]) + variant_overrides(wc.strategy, wc.objective),
    threads: config["threads"]
    resources:
        **job_resources("train", GPU_TRAIN),
    log:
        f"{LOGS}/{{source}}/finetune/s{{seed}}/{{strategy}}_{{budget}}_{{objective}}_round{{round}}of{{rounds}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/finetune/s{{seed}}/{{strategy}}_{{budget}}_{{objective}}_round{{round}}of{{rounds}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} finetune --config \"$ADASEG_CONFIG\" {params.variant} --threads {threads} --seed {wildcards.seed:q} "
        "--objective {params.objective:q} --init {input.init:q} --selection {input.selection:q} {params.semi} {params.oracle} "
        "--source {wildcards.source:q} --target {params.target:q} --round {wildcards.round:q} "
        "--rounds {wildcards.rounds:q} --out {output.ckpt:q} 2> {log:q}"


rule target_anchors:
    input:
        f"{R}/{{source}}/features/{{model}}/target.h5",
    output:
        f"{R}/{{source}}/target_anchors/{{model}}.npz",
    params:
        launch=ADASEG,
        variant=lambda wc: variant_flag(*model_variants(wc.model)),
        seed=lambda wc: seed_of(wc.model),
        cfg=lambda wc: sections("mada") + variant_overrides(*model_variants(wc.model)),
    resources:
        **job_resources("other"),
    log:
        f"{LOGS}/{{source}}/target_anchors/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/target_anchors/{{model}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} target-anchors --config \"$ADASEG_CONFIG\" {params.variant} --seed {params.seed:q} --features {input:q} --out {output:q} 2> {log:q}"


rule pseudo_labels:
    input:
        checkpoint=f"{R}/{{source}}/{{model}}.pt",
        target=dataset_input(TARGET),
    output:
        f"{R}/{{source}}/pseudo_labels/{{model}}.h5",
    params:
        launch=launch(),
        target=TARGET,
        variant=lambda wc: variant_flag(*model_variants(wc.model)),
        cfg=lambda wc: sections("mada", "features", datasets=[TARGET]) + PRECISION
        + variant_overrides(*model_variants(wc.model)),
    threads: config["threads"]
    resources:
        **job_resources("infer", GPU_INFER),
    log:
        f"{LOGS}/{{source}}/pseudo_labels/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/pseudo_labels/{{model}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} pseudo-labels --config \"$ADASEG_CONFIG\" {params.variant} --threads {threads} "
        "--checkpoint {input.checkpoint:q} --target {params.target:q} --out {output:q} 2> {log:q}"
