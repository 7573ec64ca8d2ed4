# Tables built from evaluation files only; published numbers sit in columns labelled published.
TABLE_ROWS = {
    "table1_gta": {
        "source_only": "warmup/source_only",
        "adaptseg": "warmup/adaptseg",
        "random": f"finetune/random/{BUDGET}/stage1",
        "mada_stage1": f"finetune/mada/{BUDGET}/stage1",
        "mada_full": f"finetune/mada/{BUDGET}/stage2",
        "madav2": f"finetune/madav2/{BUDGET}/madav2",
        "ripu_ra_2p2": f"finetune/ripu_ra/2.2/ripu/round{ROUNDS}",
        "ripu_ra": f"finetune/ripu_ra/{BUDGET}/ripu/round{ROUNDS}",
        "ripu_pa": f"finetune/ripu_pa/{BUDGET}/ripu/round{ROUNDS}",
        "d2ada": f"finetune/d2ada/{BUDGET}/stage1/round{ROUNDS}",
        "mcu": f"finetune/mcu/{BUDGET}/mcu/round{ROUNDS}",
        "fully_supervised": "finetune/full/100/stage1",
    },
    # MADAv2 Table 3 / MADA Table 4: every image-level strategy, fine-tuned the same way (stage 1)
    "table_selection_gta": {
        s: f"finetune/{s}/{BUDGET}/stage1"
        for s in ["random", "entropy", "confidence", "margin", "adversarial", "aada", "prototype",
                  "coreset", "badge", "clue", "mada", "madav2", "ripu_ra", "ripu_pa", "mcu", "d2ada", "region_entropy"]
    },
}
TABLE_FILES = ["csv", "md", "tex", "metrics.json", "miou.csv"]


rule table:
    input:
        unpack(table_inputs),
    output:
        csv=f"{R}/tables/{{table}}.csv",
        md=f"{R}/tables/{{table}}.md",
        tex=f"{R}/tables/{{table}}.tex",
        metrics=f"{R}/tables/{{table}}.metrics.json",
        plot=f"{R}/tables/{{table}}.miou.csv",
    wildcard_constraints:
        table="|".join(TABLE_ROWS),
    params:
        config=CONFIG_JSON,
        prefix=lambda wc, output: output.csv[: -len(".csv")],
        rows=lambda wc, input: " ".join(f"--row {k}={v}" for k, v in input.items()),
    log:
        f"{LOGS}/tables/{{table}}.log",
    conda:
        "../envs/adaseg.yaml"
    shell:
        "adaseg table --config {params.config} --name {wildcards.table} {params.rows} "
        "--out-prefix {params.prefix} 2> {log}"


rule table1_gta:
    input:
        expand(f"{R}/tables/table1_gta.{{ext}}", ext=TABLE_FILES),


rule table_selection_gta:
    input:
        expand(f"{R}/tables/table_selection_gta.{{ext}}", ext=TABLE_FILES),
