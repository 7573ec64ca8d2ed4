# Tables built from evaluation files only; published numbers sit in columns labelled published.
from adaseg.report.published import D2ADA_ALPHA, RIPU_SWEEPS

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
# selection strategies (stage 1 = source + active CE) and the selection x semi-stage grid
TABLE_ROWS["mada_table4"] = {s: f"finetune/{s}/{BUDGET}/stage1" for s in ["random", "entropy", "adversarial", "aada", "mada"]}
TABLE_ROWS["madav2_table3"] = {
    s: f"finetune/{s}/{BUDGET}/stage1"
    for s in ["random", "adversarial", "entropy", "aada", "prototype", "mada", "madav2"]
}
TABLE_ROWS["madav2_table4"] = {
    f"{sel}_{semi}": f"finetune/{sel}/{BUDGET}/{'stage2' if semi == 'mada' else 'madav2'}"
    for semi in ["mada", "madav2"]
    for sel in ["mada", "madav2"]
}
# budget sweeps (figures.budgets; 100% = the fully supervised run)
BUDGETS = [f"{b:g}" for b in config["figures"]["budgets"]]
for _paper in ["mada", "madav2"]:
    TABLE_ROWS[f"{_paper}_table5"] = {
        **{f"b{b}": f"finetune/{_paper}/{b}/stage1" for b in BUDGETS},
        "b100": "finetune/full/100/stage1",
    }
# one-parameter sweeps at the papers' values (variants <sweep>_<value>, src/adaseg/ablations.py)
for _sweep, (_table, _, _points) in RIPU_SWEEPS.items():
    TABLE_ROWS[f"ripu_table{_table.split()[-1]}"] = {
        sweep_variant(_sweep, v): f"finetune/ripu_ra/2.2/ripu+{sweep_variant(_sweep, v)}/round{ROUNDS}"
        for v, _ in _points
    }
TABLE_ROWS["d2ada_table_s4"] = {
    sweep_variant("d2ada_alpha", a): f"finetune/d2ada/{BUDGET}/stage1+{sweep_variant('d2ada_alpha', a)}/round1"
    for a, _, _ in D2ADA_ALPHA
}
TABLE_ROWS["mcu_table1"] = {f"b{b}": f"finetune/mcu/{b}/mcu/round{ROUNDS}" for b in ["1.7", "3.4", "6.8", "16.8"]}
TABLE_ROWS["mcu_table2"] = dict(TABLE_ROWS["mcu_table1"])
TABLE_ROWS["d2ada_table_s5"] = {
    f"{policy}_r{r}": f"finetune/d2ada/{BUDGET}/{objective}/round{r}"
    for policy, objective in [("even", "stage1+d2ada_d"), ("half", "stage1")]
    for r in sorted({1, (ROUNDS + 1) // 2, ROUNDS})
}
TABLE_ROWS["mcu_table4"] = {"mada": f"finetune/mada/{BUDGET}/stage2", "mcu": f"finetune/mcu/{BUDGET}/mcu/round{ROUNDS}"}
# the computable rows of each paper's main comparison table (rows of table1_gta / table1_synthia)
_T1 = TABLE_ROWS["table1_gta"]
_AADA = f"finetune/aada/{BUDGET}/stage1"
TABLE_ROWS["mada_table1"] = {"adaptseg": _T1["adaptseg"], "aada": _AADA, "mada_full": _T1["mada_full"]}
TABLE_ROWS["mada_table2"] = dict(TABLE_ROWS["mada_table1"])
TABLE_ROWS["madav2_table1"] = {"aada": _AADA, **{k: _T1[k] for k in ["adaptseg", "mada_full", "ripu_ra", "d2ada", "madav2", "fully_supervised"]}}
TABLE_ROWS["ripu_table1"] = {"aada": _AADA, **{k: _T1[k] for k in ["source_only", "ripu_pa", "ripu_ra_2p2", "mada_full", "ripu_ra", "fully_supervised"]}}
TABLE_ROWS["ripu_table2"] = dict(TABLE_ROWS["ripu_table1"])
TABLE_ROWS["d2ada_table1"] = {k: _T1[k] for k in ["adaptseg", "mada_full", "d2ada", "fully_supervised"]}
TABLE_ROWS["ripu_table4"] = {
    "ours_pa": f"finetune/ripu_pa/{BUDGET}/stage1/round{ROUNDS}",
    "ours_ra": f"finetune/ripu_ra/2.2/stage1/round{ROUNDS}",
}
# the source dataset of each table (default gta5)
TABLE_SOURCE = {"table1_synthia": "synthia", "mada_table2": "synthia", "ripu_table2": "synthia", "mcu_table2": "synthia"}
TABLE_FILES = ["csv", "md", "tex", "html", "metrics.json", "miou.csv"]


rule table:
    input:
        unpack(table_inputs),
        target_data=dataset_input(TARGET),
    output:
        csv=f"{R}/tables/{{table}}.csv",
        md=f"{R}/tables/{{table}}.md",
        tex=f"{R}/tables/{{table}}.tex",
        html=report(f"{R}/tables/{{table}}.html", caption="captions/table.rst", category="Tables",
                    labels={"table": "{table}"}),
        metrics=f"{R}/tables/{{table}}.metrics.json",
        plot=f"{R}/tables/{{table}}.miou.csv",
    wildcard_constraints:
        table="|".join(TABLE_ROWS),
    params:
        config=CONFIG_JSON,
        prefix=lambda wc, output: output.csv[: -len(".csv")],
        rows=lambda wc: " ".join(f"--row {k}={v}" for k, v in table_inputs(wc).items()),
        title=lambda wc: table_title(wc.table),
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


# What a DVC remote shares per source (dvc.yaml stages warmup_<source>, selections_<source>): the
# warm-up checkpoints, the warm-up feature dumps and the image-level selection lists of the budget.
# After `dvc pull`, `snakemake --cores 1 --touch shared_<source>` marks them up to date (pulled
# files get arbitrary modification times), so the next run reuses them instead of recomputing.
for _source in SOURCES:

    rule:
        name:
            f"shared_{_source}"
        input:
            shared_files(_source),
