# adaseg: active domain adaptation for semantic segmentation.
#   snakemake --cores all table1_gta      (default config: the proxy benchmark, generated here)
# Every rule calls one `adaseg` subcommand with explicit inputs and outputs; see rules/*.smk.
# Strategies, objectives, tables and figures are named once, in src/adaseg/registry/.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


# a config file is code-equivalent under Snakemake's YTE templating: the pipeline refuses such files
from adaseg.config import refuse_templated

refuse_templated(workflow.configfiles)

# `--config seeds=[0,1]` arrives as strings: read them as the integers they are
from adaseg.config import seeds_from_command_line

seeds_from_command_line(config)


validate(config, "src/adaseg/config.schema.json")


report: "rules/captions/workflow.rst"


include: "rules/common.smk"


# set by rules/common.smk (this invocation's frozen config snapshot; src/ of this checkout first on
# the module path); passed on to cluster jobs
envvars:
    "ADASEG_CONFIG",
    "PYTHONPATH",


include: "rules/data.smk"
include: "rules/warmup.smk"
include: "rules/features.smk"
include: "rules/select.smk"
include: "rules/annotate.smk"
include: "rules/finetune.smk"
include: "rules/evaluate.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"
include: "rules/share.smk"


# the default target: the headline table (src/adaseg/registry/tables.py MAIN_TABLE)
rule all:
    default_target: True
    input:
        getattr(rules, MAIN_TABLE).input,
