# Per-image class-mean features of a checkpoint, on the source (GT AND prediction) or the target (argmax).


rule features:
    input:
        checkpoint=f"{R}/{{source}}/{{model}}.pt",
        data=lambda wc: dataset_input(domain_dataset(wc)),
    output:
        f"{R}/{{source}}/features/{{model}}/{{domain}}.h5",
    params:
        launch=launch(),
        dataset=domain_dataset,
        cfg=lambda wc: sections("features", datasets=[domain_dataset(wc)]) + PRECISION,
    threads: config["threads"]
    resources:
        **job_resources("infer", GPU_INFER),
    log:
        f"{LOGS}/{{source}}/features/{{model}}/{{domain}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/features/{{model}}/{{domain}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} features --config \"$ADASEG_CONFIG\" --threads {threads} --checkpoint {input.checkpoint:q} "
        "--dataset {params.dataset:q} --split train --mode {wildcards.domain:q} --out {output:q} 2> {log:q}"


rule superpixels:
    input:
        data=lambda wc: dataset_input(wc.dataset),
    output:
        f"{R}/superpixels/{{dataset}}.h5",
    params:
        launch=ADASEG,
        cfg=lambda wc: sections("d2ada", datasets=[wc.dataset]),
    resources:
        **job_resources("infer"),
    log:
        f"{LOGS}/superpixels/{{dataset}}.log",
    benchmark:
        f"{R}/benchmarks/superpixels/{{dataset}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} superpixels --config \"$ADASEG_CONFIG\" --dataset {wildcards.dataset:q} --out {output:q} 2> {log:q}"


rule region_features:
    input:
        checkpoint=f"{R}/{{source}}/{{model}}.pt",
        superpixels=lambda wc: f"{R}/superpixels/{domain_dataset(wc)}.h5",
        data=lambda wc: dataset_input(domain_dataset(wc)),
    output:
        f"{R}/{{source}}/regions/{{model}}/{{domain}}.h5",
    params:
        launch=launch(),
        dataset=domain_dataset,
        cfg=lambda wc: sections("features", datasets=[domain_dataset(wc)]) + PRECISION,
    threads: config["threads"]
    resources:
        **job_resources("infer", GPU_INFER),
    log:
        f"{LOGS}/{{source}}/regions/{{model}}/{{domain}}.log",
    benchmark:
        f"{R}/benchmarks/{{source}}/regions/{{model}}/{{domain}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} region-features --config \"$ADASEG_CONFIG\" --threads {threads} --checkpoint {input.checkpoint:q} "
        "--dataset {params.dataset:q} --superpixels {input.superpixels:q} --out {output:q} 2> {log:q}"
