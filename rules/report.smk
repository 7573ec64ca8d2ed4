# Tables built from evaluation files only; published numbers sit in columns labelled published.
TABLE1_ROWS = {
    "source_only": "warmup/source_only",
    "adaptseg": "warmup/adaptseg",
    "random": f"finetune/random/{BUDGET}/stage1",
    "mada_stage1": f"finetune/mada/{BUDGET}/stage1",
    "mada_full": f"finetune/mada/{BUDGET}/stage2",
    "fully_supervised": "finetune/full/100/stage1",
}


rule table1_gta:
    input:
        **{row: f"{R}/gta5/eval/{model}.json" for row, model in TABLE1_ROWS.items()},
    output:
        csv=f"{R}/tables/table1_gta.csv",
        md=f"{R}/tables/table1_gta.md",
        tex=f"{R}/tables/table1_gta.tex",
        metrics=f"{R}/tables/table1_gta.metrics.json",
        plot=f"{R}/tables/table1_gta.miou.csv",
    params:
        config=CONFIG_JSON,
        prefix=lambda wc, output: output.csv[: -len(".csv")],
        rows=lambda wc, input: " ".join(f"--row {k}={v}" for k, v in input.items()),
    log:
        f"{LOGS}/tables/table1_gta.log",
    conda:
        "../envs/adaseg.yaml"
    shell:
        "adaseg table --config {params.config} --name table1_gta {params.rows} "
        "--out-prefix {params.prefix} 2> {log}"
