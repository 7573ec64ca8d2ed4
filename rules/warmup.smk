# Warm-up training on the labelled source: source-only, and AdaptSeg adversarial adaptation.


rule warmup:
    input:
        source=lambda wc: dataset_input(wc.source),
        target=dataset_input(TARGET),
    output:
        ckpt=f"{R}/{{source}}/warmup/s{{seed}}/{{kind}}.pt",
        curve=f"{R}/{{source}}/warmup/s{{seed}}/{{kind}}.curve.csv",
    params:
        launch=launch(True),
        target=TARGET,
        cfg=lambda wc: sections("model", "train", "warmup", datasets=[wc.source, TARGET]),
    threads: config["threads"]
    resources:
        **job_resources("train", GPU_TRAIN),
    log:
        f"{LOGS}/{{source}}/warmup/s{{seed}}_{{kind}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/warmup/s{{seed}}_{{kind}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} warmup --config \"$ADASEG_CONFIG\" --threads {threads} --seed {wildcards.seed:q} --kind {wildcards.kind:q} "
        "--source {wildcards.source:q} --target {params.target:q} --out {output.ckpt:q} 2> {log:q}"
