# Evaluation of any checkpoint on the target validation split (never used to pick a checkpoint).


rule evaluate:
    input:
        checkpoint=f"{R}/{{source}}/{{model}}.pt",
        target=dataset_input(TARGET),
    output:
        f"{R}/{{source}}/eval/{{model}}.json",
    params:
        launch=launch(),
        target=TARGET,
        cfg=sections("evaluation", "features", datasets=[TARGET]) + PRECISION,
    threads: config["threads"]
    resources:
        **job_resources("infer", GPU_INFER),
    log:
        f"{LOGS}/{{source}}/eval/{{model}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/eval/{{model}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} evaluate --config \"$ADASEG_CONFIG\" --threads {threads} --checkpoint {input.checkpoint:q} "
        "--target {params.target:q} --out {output:q} 2> {log:q}"
