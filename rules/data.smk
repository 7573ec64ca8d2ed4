# The proxy benchmark: each dataset written in its real layout by `adaseg synth`.


rule synth:
    output:
        directory(f"{PROXY_DIR}/{{dataset}}"),
    params:
        config=CONFIG_JSON,
        cfg=lambda wc: sections("proxy", datasets=[wc.dataset]),
    log:
        f"{LOGS}/synth/{{dataset}}.log",
    conda:
        "../envs/adaseg.yaml"
    shell:
        "adaseg synth --config {params.config} --dataset {wildcards.dataset} --out {output} 2> {log}"
