# The papers' figures (src/adaseg/registry/figures.py): each a PNG + SVG + the CSV of what it plots,
# drawn by `adaseg figure` (src/adaseg/report/figures.py) from files other rules wrote.

FIGURE_PROTOCOL = (
    "Every point is the mean over the seeds of the final checkpoints of its runs (no model selection; the band: one "
    "standard deviation), evaluated on the target val "
    "split; budgets count labelled target pixels. Dashed lines, if any, are the paper's published values "
    "(ResNet-101, real datasets), not comparable to proxy numbers."
)


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
        prefix=lambda wc, output: output.png[: -len(".png")],
        item_flags=lambda wc: " ".join(f"--item {shlex.quote(f'{k}={p}')}" for k, p in figure_items(wc.figure)),
        title=lambda wc: figure(wc.figure).title,
        protocol=FIGURE_PROTOCOL,
        cfg=sections("seeds", "figures", "evaluation", datasets=[TARGET]),
    threads: config["threads"]
    resources:
        **job_resources("infer", GPU_INFER),
    log:
        f"{LOGS}/figures/{{figure}}.log",
    benchmark:
        f"{R}/benchmarks/figures/{{figure}}.tsv"
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} figure --config \"$ADASEG_CONFIG\" --threads {threads} --name {wildcards.figure:q} {params.item_flags} "
        "--out-prefix {params.prefix:q} 2> {log:q}"


# one target per figure: `snakemake --cores all <name>`
for _name in FIGURES:

    rule:
        name:
            _name
        input:
            expand(f"{R}/figures/{_name}.{{ext}}", ext=["png", "svg", "csv"]),
