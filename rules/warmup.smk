# Warm-up training on the labelled source: source-only, and AdaptSeg adversarial adaptation.


rule warmup:
    input:
        source=lambda wc: dataset_input(wc.source),
        target=dataset_input(TARGET),
    output:
        f"{R}/{{source}}/warmup/{{kind}}.pt",
    params:
        launch=launch(True),
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
        "{params.launch} warmup --config \"$ADASEG_CONFIG\" --threads {threads} --kind {wildcards.kind:q} "
        "--source {wildcards.source:q} --target {params.target:q} --out {output:q} 2> {log:q}"
