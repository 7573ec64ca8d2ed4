# The papers' figures: each a PNG + SVG + the CSV of what it plots, drawn by `adaseg figure` from
# files other rules wrote (src/adaseg/report/figures.py FIGURES says what each one shows).
import shlex
import sys

from adaseg.report.figures import FIGURES

ANCHORS = config["figures"]["anchor_counts"]
ROUND_PERCENT = {r: f"{float(BUDGET) * r / ROUNDS:g}" for r in range(1, ROUNDS + 1)}
_REGIONS_2P2 = f"select/ripu_ra/2.2/{{}}/round{ROUNDS}/masks.h5"
# figure -> [(key, path under results/<source>/)]; keys as in src/adaseg/report/figures.py
FIGURE_ITEMS = {
    "mada_fig4": anchor_sweep("mada", "stage2"),
    "madav2_fig6": anchor_sweep("madav2", "madav2"),
    "d2ada_fig3": round_curves(),
    "d2ada_fig3_synthia": round_curves(),
    "budget_curves": [
        (f"{s}|{b}", f"eval/finetune/{s}/{b}/stage1.json") for s in ["random", "mada", "madav2"] for b in BUDGETS
    ]
    + [("fully supervised|100", "eval/finetune/full/100/stage1.json")],
    "madav2_fig4": [
        ("features", f"features/{INIT}/target.h5"),
        ("selection:(a) MADA", f"select/mada/{BUDGET}/selection.json"),
        ("scores:(a) MADA", f"select/mada/{BUDGET}/scores.npz"),
        ("selection:(b) MADAv2", f"select/madav2/{BUDGET}/selection.json"),
        ("scores:(b) MADAv2", f"select/madav2/{BUDGET}/scores.npz"),
    ],
    "ripu_fig4": [
        ("masks:RIPU RA (impurity x uncertainty)", _REGIONS_2P2.format("ripu")),
        ("masks:uncertainty only", _REGIONS_2P2.format("stage1+ripu_b")),
        ("masks:impurity only", _REGIONS_2P2.format("stage1+ripu_a")),
    ],
    "ripu_fig5": [
        ("masks:RIPU RA 2.2%", _REGIONS_2P2.format("ripu")),
        (f"masks:RIPU RA {BUDGET}%", f"select/ripu_ra/{BUDGET}/ripu/round{ROUNDS}/masks.h5"),
        (f"masks:ADA-MCU {BUDGET}%", f"select/mcu/{BUDGET}/mcu/round{ROUNDS}/masks.h5"),
        (f"masks:D2ADA {BUDGET}%", f"select/d2ada/{BUDGET}/stage1/round{ROUNDS}/masks.h5"),
        (f"selection:MADA {BUDGET}% (images)", f"select/mada/{BUDGET}/selection.json"),
    ],
    "mada_fig3": [("model:AdaptSeg", f"{INIT}.pt"), ("model:MADA", f"finetune/mada/{BUDGET}/stage2.pt")],
    "madav2_fig5": [("model:AdaptSeg", f"{INIT}.pt"), ("model:MADAv2", f"finetune/madav2/{BUDGET}/madav2.pt")],
    "ripu_fig3": [
        ("model:Source only", "warmup/source_only.pt"),
        (f"model:RIPU RA {BUDGET}%", f"finetune/ripu_ra/{BUDGET}/ripu/round{ROUNDS}.pt"),
        ("model:RIPU PA", f"finetune/ripu_pa/{BUDGET}/ripu/round{ROUNDS}.pt"),
    ],
    "d2ada_fig4": [
        ("model:AdaptSeg", f"{INIT}.pt"),
        ("model:AADA", f"finetune/aada/{BUDGET}/stage1.pt"),
        ("model:D2ADA", f"finetune/d2ada/{BUDGET}/stage1/round{ROUNDS}.pt"),
    ],
}
FIGURE_SOURCE = {"d2ada_fig3_synthia": "synthia"}
FIGURE_PROTOCOL = (
    "Every point is the final checkpoint of one run (no model selection), evaluated on the target val "
    "split; budgets count labelled target pixels. Dashed lines, if any, are the paper's published values "
    "(ResNet-101, real datasets), not comparable to proxy numbers."
)
assert set(FIGURE_ITEMS) == set(FIGURES), "rules/figures.smk and adaseg.report.figures disagree"


rule figure:
    input:
        lambda wc: [path for _, path in figure_items(wc.figure)],
        target=dataset_input(TARGET),
    output:
        png=report(f"{R}/figures/{{figure}}.png", caption="captions/figure.rst", category="Figures",
                   labels={"figure": "{figure}"}),
        svg=f"{R}/figures/{{figure}}.svg",
        csv=f"{R}/figures/{{figure}}.csv",
    wildcard_constraints:
        figure="|".join(FIGURES),
    params:
        launch=launch(),
        config=CONFIG_JSON,
        prefix=lambda wc, output: output.png[: -len(".png")],
        item_flags=lambda wc: " ".join(f"--item {shlex.quote(f'{k}={p}')}" for k, p in figure_items(wc.figure)),
        title=lambda wc: FIGURES[wc.figure]["title"],
        protocol=FIGURE_PROTOCOL,
        cfg=sections("seed", "figures", "evaluation", datasets=[TARGET]),
    threads: config["threads"]
    resources:
        gpu=GPU_INFER,
        mem_mb=MEM_MB,
    log:
        f"{LOGS}/figures/{{figure}}.log",
    benchmark:
        f"{R}/benchmarks/figures/{{figure}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} figure --config {params.config} --threads {threads} --name {wildcards.figure} {params.item_flags} "
        "--out-prefix {params.prefix} 2> {log}"


# one target per figure: `snakemake --cores all <name>`
for _name in FIGURES:

    rule:
        name:
            _name
        input:
            expand(f"{R}/figures/{_name}.{{ext}}", ext=["png", "svg", "csv"]),


# The HTML report (snakemake --report) of the tables and figures named in config `report`.
REPORT_INPUTS = [f"{R}/tables/{t}.html" for t in config["report"]["tables"]] + [
    f"{R}/figures/{f}.png" for f in config["report"]["figures"]
]


rule report:
    input:
        REPORT_INPUTS,
    output:
        f"{R}/report.html",
    params:
        python=sys.executable,
        snakefile=workflow.main_snakefile,
        config=CONFIG_JSON,
        targets=" ".join(REPORT_INPUTS),
    log:
        f"{LOGS}/report.log",
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.python} -m snakemake --snakefile {params.snakefile} --configfile {params.config} --nolock "
        "--report {output} {params.targets} 2> {log}"
