# Per-image class-mean features of a checkpoint, on the source (GT AND prediction) or the target (argmax).


rule features:
    input:
        checkpoint=f"{R}/{{source}}/{{model}}.pt",
        data=lambda wc: dataset_input(domain_dataset(wc)),
    output:
        f"{R}/{{source}}/features/{{model}}/{{domain}}.h5",
    params:
        config=CONFIG_JSON,
        dataset=domain_dataset,
        cfg=lambda wc: sections("features", datasets=[domain_dataset(wc)]),
    threads: config["threads"]
    log:
        f"{LOGS}/{{source}}/features/{{model}}/{{domain}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/features/{{model}}/{{domain}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "adaseg features --config {params.config} --threads {threads} --checkpoint {input.checkpoint} "
        "--dataset {params.dataset} --split train --mode {wildcards.domain} --out {output} 2> {log}"
