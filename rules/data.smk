# The proxy benchmark: each dataset written in its real layout by `adaseg synth`.


rule synth:
    output:
        directory(f"{PROXY_DIR}/{{dataset}}"),
    params:
        launch=ADASEG,
        cfg=lambda wc: sections("proxy", datasets=[wc.dataset]),
    resources:
        **job_resources("other"),
    log:
        f"{LOGS}/synth/{{dataset}}.log",
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} synth --config \"$ADASEG_CONFIG\" --dataset {wildcards.dataset:q} --out {output:q} 2> {log:q}"


# Decoded-sample cache (datasets.<name>.cache: true): every image of a split decoded and resized
# once into HDF5, read by every later stage instead of the PNGs (same pixels; adaseg.data.cache).
rule cache_dataset:
    input:
        lambda wc: [config["datasets"][wc.dataset]["root"]] if config["datasets"][wc.dataset].get("proxy") else [],
    output:
        f"{R}/cache/{{dataset}}/{{split}}.h5",
    wildcard_constraints:
        split="train|val|test",
    params:
        launch=ADASEG,
        cfg=lambda wc: sections(datasets=[wc.dataset]),
    resources:
        **job_resources("infer"),
    log:
        f"{LOGS}/cache/{{dataset}}_{{split}}.log",
    benchmark:
        f"{R}/benchmarks/cache/{{dataset}}_{{split}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} cache --config \"$ADASEG_CONFIG\" --dataset {wildcards.dataset:q} --split {wildcards.split:q} "
        "--out {output:q} 2> {log:q}"
