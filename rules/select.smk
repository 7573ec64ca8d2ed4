# Active selection: a selection list per strategy and budget (percent of target pixels).
# Image-level strategies score the target training images with the warm-up model's feature dumps
# (class-mean features, pooled features, uncertainty, discriminator, gradient embeddings).


rule select_image:
    input:
        source=f"{R}/{{source}}/features/{INIT}/source.h5",
        target=f"{R}/{{source}}/features/{INIT}/target.h5",
        data=dataset_input(TARGET),
    output:
        selection=f"{R}/{{source}}/select/{{strategy}}/{{budget}}/selection.json",
        scores=f"{R}/{{source}}/select/{{strategy}}/{{budget}}/scores.npz",
    wildcard_constraints:
        strategy=rf"({'|'.join(FEATURE_STRATEGIES)})(\+[A-Za-z0-9_]+)?",
    params:
        config=CONFIG_JSON,
        target=TARGET,
        strategy=lambda wc: base_strategy(wc.strategy),
        variant=lambda wc: variant_flag(wc.strategy),
        cfg=lambda wc: sections("seed", "mada", "diversity", datasets=[TARGET]) + variant_overrides(wc.strategy),
    log:
        f"{LOGS}/{{source}}/select/{{strategy}}_{{budget}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/select/{{strategy}}_{{budget}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "adaseg select --config {params.config} {params.variant} --strategy {params.strategy} "
        "--target {params.target} --budget {wildcards.budget} --source-features {input.source} --target-features {input.target} "
        "--scores-out {output.scores} --out {output.selection} 2> {log}"


rule select_baseline:
    input:
        data=dataset_input(TARGET),
    output:
        f"{R}/{{source}}/select/{{strategy}}/{{budget}}/selection.json",
    wildcard_constraints:
        strategy="random|full",
    params:
        config=CONFIG_JSON,
        target=TARGET,
        cfg=sections("seed", datasets=[TARGET]),
    log:
        f"{LOGS}/{{source}}/select/{{strategy}}_{{budget}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/select/{{strategy}}_{{budget}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "adaseg select --config {params.config} --strategy {wildcards.strategy} --target {params.target} "
        "--budget {wildcards.budget} --out {output} 2> {log}"


rule select_region:
    input:
        checkpoint=f"{R}/{{source}}/{INIT}.pt",
        data=dataset_input(TARGET),
    output:
        selection=f"{R}/{{source}}/select/{{strategy}}/{{budget}}/selection.json",
        masks=f"{R}/{{source}}/select/{{strategy}}/{{budget}}/masks.h5",
    wildcard_constraints:
        strategy="ripu_ra|ripu_pa|mcu",
    params:
        launch=launch(),
        config=CONFIG_JSON,
        target=TARGET,
        cfg=sections("seed", "ripu", "mcu", "features", datasets=[TARGET]) + PRECISION,
    threads: config["threads"]
    resources:
        gpu=GPU_INFER,
        mem_mb=MEM_MB,
    log:
        f"{LOGS}/{{source}}/select/{{strategy}}_{{budget}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/select/{{strategy}}_{{budget}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} select-regions --config {params.config} --threads {threads} --strategy {wildcards.strategy} "
        "--checkpoint {input.checkpoint} --target {params.target} --budget {wildcards.budget} "
        "--masks-out {output.masks} --out {output.selection} 2> {log}"


rule select_d2ada:
    input:
        source=lambda wc: [f"{R}/{wc.source}/regions/{INIT}/source.h5"] if wc.strategy == "d2ada" else [],
        target=f"{R}/{{source}}/regions/{INIT}/target.h5",
        superpixels=f"{R}/superpixels/{TARGET}.h5",
    output:
        selection=f"{R}/{{source}}/select/{{strategy}}/{{budget}}/selection.json",
        masks=f"{R}/{{source}}/select/{{strategy}}/{{budget}}/masks.h5",
        gmm=f"{R}/{{source}}/select/{{strategy}}/{{budget}}/gmm.npz",
    wildcard_constraints:
        strategy="d2ada|region_entropy",
    params:
        config=CONFIG_JSON,
        source=lambda wc, input: f"--source-regions {input.source}" if input.source else "",
        cfg=sections("seed", "d2ada"),
    log:
        f"{LOGS}/{{source}}/select/{{strategy}}_{{budget}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/select/{{strategy}}_{{budget}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "adaseg select-d2ada --config {params.config} --strategy {wildcards.strategy} {params.source} "
        "--target-regions {input.target} --superpixels {input.superpixels} --round 1 "
        "--budget {wildcards.budget} --gmm-out {output.gmm} --masks-out {output.masks} "
        "--out {output.selection} 2> {log}"
