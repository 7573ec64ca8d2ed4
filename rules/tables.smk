# Tables built from evaluation files only (src/adaseg/registry/tables.py declares each table's rows);
# published numbers sit in columns labelled published. The HTML report of the tables and figures
# named in config `report` is built beside them.
import sys

from adaseg.registry.tables import MAIN_TABLE

TABLE_FILES = ["csv", "md", "tex", "html", "metrics.json", "miou.csv"]


rule table:
    input:
        evals=table_inputs,
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
        table="|".join(TABLES),
    params:
        launch=ADASEG,
        prefix=lambda wc, output: output.csv[: -len(".csv")],
        rows=table_flags,
        title=lambda wc: table_title(wc.table),
    resources:
        **job_resources("other"),
    log:
        f"{LOGS}/tables/{{table}}.log",
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} table --config \"$ADASEG_CONFIG\" --name {wildcards.table:q} {params.rows} "
        "--out-prefix {params.prefix:q} 2> {log:q}"


# one target per table: `snakemake --cores all <name>`
for _name in TABLES:

    rule:
        name:
            _name
        input:
            expand(f"{R}/tables/{_name}.{{ext}}", ext=TABLE_FILES),


# R1-R5: whether the benchmark is in the papers' regime (src/adaseg/report/regime.py), from the
# warm-up and fully supervised rows of the main table, the per-unit random and oracle rows of
# table_oracles_gta and each seed's warm-up target dump: `snakemake --cores all proxy_regime`
rule proxy_regime:
    input:
        evals=lambda wc: sorted({p for v in regime_rows().values() for _, p in v}),
        dumps=lambda wc: sorted(set(regime_dumps().values())),
    output:
        json=f"{R}/tables/proxy_regime.json",
        md=f"{R}/tables/proxy_regime.md",
    params:
        launch=ADASEG,
        prefix=lambda wc, output: output.json[: -len(".json")],
        rows=lambda wc: " ".join(f"--row {shlex.quote(f'{k}@{s}={p}')}" for k, v in regime_rows().items() for s, p in v),
        dumps=lambda wc: " ".join(f"--warmup-features {shlex.quote(f'{s}={p}')}" for s, p in regime_dumps().items()),
    resources:
        **job_resources("other"),
    log:
        f"{LOGS}/tables/proxy_regime.log",
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.launch} regime --config \"$ADASEG_CONFIG\" {params.rows} {params.dumps} "
        "--out-prefix {params.prefix:q} 2> {log:q}"


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
        targets=" ".join(shlex.quote(p) for p in REPORT_INPUTS),
    resources:
        **job_resources("other"),
    log:
        f"{LOGS}/report.log",
    conda:
        "../envs/adaseg.yaml"
    shell:
        "{params.python:q} -m snakemake --snakefile {params.snakefile:q} --configfile \"$ADASEG_CONFIG\" --nolock "
        "--report {output:q} {params.targets} 2> {log:q}"
