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
TABLE_ROWS["table1_synthia"] = dict(TABLE_ROWS["table1_gta"])
# the papers' ablations (variants: src/adaseg/ablations.py); M(0) is the warm-up, M(u) fully supervised
TABLE_ROWS["mada_table3"] = {
    "M0": "warmup/adaptseg",
    "M1": f"finetune/mada/{BUDGET}/stage1",
    "M2": f"finetune/mada/{BUDGET}/stage2+mada_M2",
    "M3": f"finetune/mada/{BUDGET}/stage2+mada_M3",
    "M4": f"finetune/mada/{BUDGET}/stage2",
    "Mu": "finetune/full/100/stage1",
}
TABLE_ROWS["madav2_table2"] = {
    "M0": "warmup/adaptseg",
    "M1": f"finetune/madav2/{BUDGET}/stage1",
    "M2": f"finetune/madav2/{BUDGET}/madav2+madav2_M2",
    "M3": f"finetune/madav2/{BUDGET}/madav2+madav2_M3",
    "M4": f"finetune/madav2/{BUDGET}/madav2+madav2_M4",
    "M5": f"finetune/madav2/{BUDGET}/madav2",
    "Mu": "finetune/full/100/stage1",
}
TABLE_ROWS["ripu_table3"] = {
    "a": f"finetune/ripu_ra/2.2/stage1+ripu_a/round{ROUNDS}",
    "b": f"finetune/ripu_ra/2.2/stage1+ripu_b/round{ROUNDS}",
    "c": f"finetune/ripu_ra/2.2/stage1/round{ROUNDS}",
    "d": f"finetune/ripu_ra/2.2/ripu+ripu_d/round{ROUNDS}",
    "e": f"finetune/ripu_ra/2.2/ripu+ripu_e/round{ROUNDS}",
    "f": f"finetune/ripu_ra/2.2/ripu/round{ROUNDS}",
}
# D2ADA Table 2 reports rounds 1, 3 and 5 of 5 (1%, 3%, 5% with the 5% budget)
TABLE_ROWS["d2ada_table2"] = {
    f"{row}_r{r}": f"finetune/{chain}/round{r}"
    for row, chain in [("a", f"region_entropy/{BUDGET}/stage1"), ("b", f"d2ada/{BUDGET}/stage1+d2ada_b"),
                       ("c", f"d2ada/{BUDGET}/stage1+d2ada_c"), ("d", f"d2ada/{BUDGET}/stage1+d2ada_d"),
                       ("e", f"d2ada/{BUDGET}/stage1")]
    for r in sorted({1, (ROUNDS + 1) // 2, ROUNDS})
}
TABLE_ROWS["mcu_table6"] = {
    "al_no_as": f"finetune/mcu/{BUDGET}/mcu+mcu_noas/round{ROUNDS}",
    "al_as": f"finetune/mcu/{BUDGET}/mcu+mcu_as/round{ROUNDS}",
    "mcu_i": f"finetune/mcu/{BUDGET}/mcu+mcu_i/round{ROUNDS}",
    "mcu_d": f"finetune/mcu/{BUDGET}/mcu+mcu_d/round{ROUNDS}",
    "p2p": f"finetune/mcu/{BUDGET}/mcu+mcu_p2p/round{ROUNDS}",
    "p2p_c2c": f"finetune/mcu/{BUDGET}/mcu+mcu_d/round{ROUNDS}",
    "full": f"finetune/mcu/{BUDGET}/mcu/round{ROUNDS}",
}
# the source dataset of each table (default gta5)
TABLE_SOURCE = {"table1_synthia": "synthia"}
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


# one target per table: `snakemake --cores all <name>`
for _name in TABLE_ROWS:

    rule:
        name:
            _name
        input:
            expand(f"{R}/tables/{_name}.{{ext}}", ext=TABLE_FILES),
