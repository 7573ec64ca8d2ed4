# Active selection: one rule per selection runner (src/adaseg/registry/strategies.py), each for round
# r of R of a chain (a single-round run is round 1 of 1). Round r selects with the model fine-tuned
# in round r-1 (round 1: the warm-up) and never re-selects what earlier rounds labelled (cumulative
# masks); the budget wildcard is the chain's total, each round takes budget / R.


rule select_image:
    input:
        unpack(image_features),
        data=dataset_input(TARGET),
    output:
        selection=f"{SEL}/selection.json",
        scores=f"{SEL}/scores.npz",
    wildcard_constraints:
        strategy=variant_strategy("image"),
    params:
        launch=ADASEG,
        target=TARGET,
        features=feature_flags,
        strategy=lambda wc: strategy(wc.strategy).name,
        variant=lambda wc: variant_flag(wc.strategy, wc.objective),
        cfg=lambda wc: sections("mada", "diversity", datasets=[TARGET])
        + variant_overrides(wc.strategy, wc.objective),
    resources:
        **job_resources("infer"),
    log:
        f"{LOGS}/{{source}}/select/s{{seed}}/{{strategy}}_{{budget}}_{{objective}}_round{{round}}of{{rounds}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/select/s{{seed}}/{{strategy}}_{{budget}}_{{objective}}_round{{round}}of{{rounds}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} select --config \"$ADASEG_CONFIG\" {params.variant} --seed {wildcards.seed:q} --strategy {params.strategy:q} "
        "--target {params.target:q} --budget {wildcards.budget:q} {params.features} "
        "--scores-out {output.scores:q} --out {output.selection:q} 2> {log:q}"


rule select_regions:
    input:
        checkpoint=selecting_checkpoint,
        previous=previous_round_masks,
        data=dataset_input(TARGET),
    output:
        selection=f"{SEL}/selection.json",
        masks=f"{SEL}/masks.h5",
    wildcard_constraints:
        strategy=variant_strategy("model"),
    params:
        launch=launch(),
        target=TARGET,
        per_round=per_round_budget,
        previous=lambda wc, input: f"--previous-masks {shlex.quote(input.previous[0])}" if input.previous else "",
        strategy=lambda wc: strategy(wc.strategy).name,
        variant=lambda wc: variant_flag(wc.strategy, wc.objective),
        cfg=lambda wc: sections("ripu", "mcu", "features", datasets=[TARGET])
        + PRECISION
        + variant_overrides(wc.strategy, wc.objective),
    threads: config["threads"]
    resources:
        **job_resources("infer", GPU_INFER),
    log:
        f"{LOGS}/{{source}}/select/s{{seed}}/{{strategy}}_{{budget}}_{{objective}}_round{{round}}of{{rounds}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/select/s{{seed}}/{{strategy}}_{{budget}}_{{objective}}_round{{round}}of{{rounds}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} select-regions --config \"$ADASEG_CONFIG\" {params.variant} --threads {threads} --seed {wildcards.seed:q} "
        "--strategy {params.strategy:q} --checkpoint {input.checkpoint:q} --target {params.target:q} "
        "--budget {params.per_round:q} --round {wildcards.round:q} --rounds {wildcards.rounds:q} {params.previous} "
        "--masks-out {output.masks:q} --out {output.selection:q} 2> {log:q}"


rule select_superpixels:
    input:
        unpack(superpixel_inputs),
        previous=previous_round_masks,
    output:
        selection=f"{SEL}/selection.json",
        masks=f"{SEL}/masks.h5",
        gmm=f"{SEL}/gmm.npz",
    wildcard_constraints:
        strategy=variant_strategy("superpixel"),
    params:
        launch=ADASEG,
        per_round=per_round_budget,
        regions=lambda wc, input: " ".join(f"--{k.replace('_', '-')} {shlex.quote(input[k])}" for k in input.keys() if k.endswith("_regions")),
        previous=lambda wc, input: f"--previous-masks {shlex.quote(input.previous[0])}" if input.previous else "",
        strategy=lambda wc: strategy(wc.strategy).name,
        variant=lambda wc: variant_flag(wc.strategy, wc.objective),
        cfg=lambda wc: sections("d2ada") + variant_overrides(wc.strategy, wc.objective),
    resources:
        **job_resources("infer"),
    log:
        f"{LOGS}/{{source}}/select/s{{seed}}/{{strategy}}_{{budget}}_{{objective}}_round{{round}}of{{rounds}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/select/s{{seed}}/{{strategy}}_{{budget}}_{{objective}}_round{{round}}of{{rounds}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} select-superpixels --config \"$ADASEG_CONFIG\" {params.variant} --seed {wildcards.seed:q} --strategy {params.strategy:q} "
        "{params.regions} --superpixels {input.superpixels:q} --round {wildcards.round:q} "
        "--source {wildcards.source:q} --budget {params.per_round:q} {params.previous} --gmm-out {output.gmm:q} "
        "--masks-out {output.masks:q} --out {output.selection:q} 2> {log:q}"
