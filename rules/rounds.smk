# Multi-round selection (RIPU, D2ADA, ADA-MCU; 5 rounds in the papers): round r selects with the
# model fine-tuned in round r-1 (round 1: the warm-up), never re-selects the pixels of earlier
# rounds (cumulative masks), and fine-tuning continues from round r-1 on everything labelled so far
# with the chain's objective (stage1 = CE only, ripu, mcu), training round r's share of one poly
# schedule. The budget wildcard is the total over all rounds; each round takes budget / rounds.
RD = f"{R}/{{source}}/select/{{strategy}}/{{budget}}/{{objective}}/round{{round}}"
FTR = f"{R}/{{source}}/finetune/{{strategy}}/{{budget}}/{{objective}}/round{{round}}"


rule select_round:
    input:
        checkpoint=round_checkpoint,
        previous=previous_round_masks,
        data=dataset_input(TARGET),
    output:
        selection=f"{RD}/selection.json",
        masks=f"{RD}/masks.h5",
    wildcard_constraints:
        strategy="ripu_ra|ripu_pa|mcu",
    params:
        launch=launch(),
        config=CONFIG_JSON,
        target=TARGET,
        per_round=per_round_budget,
        rounds=config["multi_round"]["rounds"],
        previous=lambda wc, input: f"--previous-masks {input.previous}" if input.previous else "",
        variant=lambda wc: variant_flag(wc.objective),
        cfg=lambda wc: sections("seed", "ripu", "mcu", "features", "multi_round", datasets=[TARGET])
        + PRECISION
        + variant_overrides(wc.objective),
    threads: config["threads"]
    resources:
        gpu=GPU_INFER,
        mem_mb=MEM_MB,
    log:
        f"{LOGS}/{{source}}/select/{{strategy}}_{{budget}}_{{objective}}_round{{round}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/select/{{strategy}}_{{budget}}_{{objective}}_round{{round}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} select-regions --config {params.config} {params.variant} --threads {threads} "
        "--strategy {wildcards.strategy} --checkpoint {input.checkpoint} --target {params.target} "
        "--budget {params.per_round} --round {wildcards.round} --rounds {params.rounds} {params.previous} "
        "--masks-out {output.masks} --out {output.selection} 2> {log}"


rule select_d2ada_round:
    input:
        source=lambda wc: [f"{R}/{wc.source}/regions/{round_model(wc)}/source.h5"] if wc.strategy == "d2ada" else [],
        target=lambda wc: f"{R}/{wc.source}/regions/{round_model(wc)}/target.h5",
        superpixels=f"{R}/superpixels/{TARGET}.h5",
        previous=previous_round_masks,
    output:
        selection=f"{RD}/selection.json",
        masks=f"{RD}/masks.h5",
        gmm=f"{RD}/gmm.npz",
    wildcard_constraints:
        strategy="d2ada|region_entropy",
    params:
        config=CONFIG_JSON,
        per_round=per_round_budget,
        source=lambda wc, input: f"--source-regions {input.source}" if input.source else "",
        previous=lambda wc, input: f"--previous-masks {input.previous}" if input.previous else "",
        variant=lambda wc: variant_flag(wc.objective),
        cfg=lambda wc: sections("seed", "d2ada", "multi_round") + variant_overrides(wc.objective),
    log:
        f"{LOGS}/{{source}}/select/{{strategy}}_{{budget}}_{{objective}}_round{{round}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/select/{{strategy}}_{{budget}}_{{objective}}_round{{round}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "adaseg select-d2ada --config {params.config} {params.variant} --strategy {wildcards.strategy} {params.source} "
        "--target-regions {input.target} --superpixels {input.superpixels} --round {wildcards.round} --source {wildcards.source} "
        "--budget {params.per_round} {params.previous} --gmm-out {output.gmm} --masks-out {output.masks} "
        "--out {output.selection} 2> {log}"


rule finetune_round:
    input:
        init=round_checkpoint,
        selection=f"{RD}/selection.json",
        masks=f"{RD}/masks.h5",
        source=lambda wc: dataset_input(wc.source),
        target=dataset_input(TARGET),
    output:
        f"{FTR}.pt",
    params:
        launch=launch(True),
        config=CONFIG_JSON,
        target=TARGET,
        rounds=config["multi_round"]["rounds"],
        stage=lambda wc: base_objective(wc.objective),
        variant=lambda wc: variant_flag(wc.objective),
        cfg=lambda wc: sections("seed", "train", "finetune", "multi_round", base_objective(wc.objective),
                                datasets=[wc.source, TARGET]) + variant_overrides(wc.objective),
    threads: config["threads"]
    resources:
        gpu=GPU_TRAIN,
        mem_mb=MEM_MB,
    log:
        f"{LOGS}/{{source}}/finetune/{{strategy}}_{{budget}}_{{objective}}_round{{round}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/finetune/{{strategy}}_{{budget}}_{{objective}}_round{{round}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} finetune --config {params.config} {params.variant} --threads {threads} --stage {params.stage} "
        "--init {input.init} --selection {input.selection} --source {wildcards.source} --target {params.target} "
        "--round {wildcards.round} --rounds {params.rounds} --out {output} 2> {log}"
