# Evaluation of any checkpoint on the target validation split (never used to pick a checkpoint).


rule evaluate:
    input:
        checkpoint=f"{R}/{{source}}/{{model}}.pt",
        target=dataset_input(TARGET),
    output:
        f"{R}/{{source}}/eval/{{model}}.json",
    params:
        config=CONFIG_JSON,
        target=TARGET,
        cfg=sections("evaluation", "features", datasets=[TARGET]),
    threads: config["threads"]
    log:
        f"{LOGS}/{{source}}/eval/{{model}}.log",
    conda:
        "../envs/adaseg.yaml"
    shell:
        "adaseg evaluate --config {params.config} --threads {threads} --checkpoint {input.checkpoint} "
        "--target {params.target} --out {output} 2> {log}"
