# adaseg: active domain adaptation for semantic segmentation.
#   snakemake --cores all table1_gta      (default config: the proxy benchmark, generated here)
# Every rule calls one `adaseg` subcommand with explicit inputs and outputs; see rules/*.smk.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "src/adaseg/config.schema.json")


report: "rules/captions/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/warmup.smk"
include: "rules/features.smk"
include: "rules/select.smk"
include: "rules/finetune.smk"
include: "rules/rounds.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/figures.smk"


rule all:
    default_target: True
    input:
        rules.table1_gta.input,
