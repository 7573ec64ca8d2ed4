# Warm-up training on the labelled source: source-only, and AdaptSeg adversarial adaptation.


rule warmup:
    input:
        source=lambda wc: dataset_input(wc.source),
        target=dataset_input(TARGET),
    output:
        f"{R}/{{source}}/warmup/{{kind}}.pt",
    params:
        launch=launch(True),
        config=CONFIG_JSON,
        target=TARGET,
        cfg=lambda wc: sections("seed", "model", "train", "warmup", datasets=[wc.source, TARGET]),
    threads: config["threads"]
    resources:
        gpu=GPU_TRAIN,
        mem_mb=MEM_MB,
    log:
        f"{LOGS}/{{source}}/warmup_{{kind}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/warmup_{{kind}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} warmup --config {params.config} --threads {threads} --kind {wildcards.kind} "
        "--source {wildcards.source} --target {params.target} --out {output} 2> {log}"
