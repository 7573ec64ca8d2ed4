# Shared definitions: result paths, dataset inputs, the effective config every rule reads.
import json
from pathlib import Path

from adaseg.ablations import resolve_variant, sweep_variant

R = config["results"]
TARGET = config["target"]
SOURCES = [name for name in config["datasets"] if name != TARGET]
PROXY_DIR = config.get("proxy", {}).get("dir", "data/proxy")
LOGS = f"{R}/logs"
# MADA selects with, and fine-tunes from, the AdaptSeg warm-up (MADA Algorithm 1, step 1).
INIT = "warmup/adaptseg"
BUDGET = f"{config['mada']['budget']:g}"
ROUNDS = int(config["multi_round"]["rounds"])
# image-level strategies that read feature dumps (src/adaseg/select/run.py: IMAGE_STRATEGIES)
FEATURE_STRATEGIES = ["entropy", "confidence", "margin", "adversarial", "aada", "mada", "madav2",
                      "prototype", "coreset", "badge", "clue"]
# region / pixel strategies that select with the model and write label masks (select/region_run.py)
REGION_STRATEGIES = ["ripu_ra", "ripu_pa", "mcu", "d2ada", "region_entropy"]

# Devices. Every rule that runs the network declares the GPUs it takes (resources gpu=..., so that
# `snakemake --cores all --resources gpu=N` runs at most N GPUs' worth of jobs at once) and its
# memory (mem_mb); `adaseg.gpu_slots` hands each job its own GPUs. A training stage with
# train.gpus > 1 runs data-parallel under torchrun (one process per GPU).
ON_GPU = config.get("device", "auto") != "cpu"
TRAIN_GPUS = int(config["train"].get("gpus", 1))
MEM_MB = int(config["train"].get("mem_mb", 8000))
GPU_TRAIN = TRAIN_GPUS if ON_GPU else 0
GPU_INFER = 1 if ON_GPU else 0
# the precision every network pass runs in: a rerun trigger of the rules that only run the network
PRECISION = f" precision={config['train'].get('precision', 'fp32')}"


def launch(train=False):
    """The command that starts `adaseg` in a job that runs the network, behind the GPU-slot wrapper
    when the job takes GPUs; a training stage with train.gpus > 1 starts torchrun with that many."""
    n = TRAIN_GPUS if train else 1
    cmd = f"torchrun --standalone --nproc_per_node {n} -m adaseg" if n > 1 else "adaseg"
    gpus = n if ON_GPU else 0
    return f"python -m adaseg.gpu_slots --gpus {gpus} -- {cmd}" if gpus else cmd


for _name, _d in config["datasets"].items():
    if _d.get("proxy") and _d["root"] != f"{PROXY_DIR}/{_name}":
        raise ValueError(
            f"datasets.{_name}: a proxy dataset is generated into {PROXY_DIR}/{_name}, not {_d['root']}"
        )

# config.yaml merged with --config/--configfile and the schema defaults. Every rule passes this
# file to its CLI (params.config); it is rewritten only when its content changes. Each rule also
# carries the config sections it depends on as `params.cfg`, so a changed section reruns exactly
# the rules that use it.
CONFIG_JSON = f"{R}/config.json"
_text = json.dumps(config, indent=1, sort_keys=True)
_cfg_file = Path(CONFIG_JSON)
if not _cfg_file.exists() or _cfg_file.read_text() != _text:
    _cfg_file.parent.mkdir(parents=True, exist_ok=True)
    _cfg_file.write_text(_text)


def sections(*keys, datasets=()):
    """The config sections a rule depends on, as a canonical string (a rerun trigger). A dataset's
    `cache` switch is left out: the decoded-sample cache holds the same pixels as the PNGs."""
    picked = {k: config.get(k) for k in keys}
    picked["datasets"] = {d: {k: v for k, v in config["datasets"][d].items() if k != "cache"} for d in datasets}
    return json.dumps(picked, sort_keys=True)


def dataset_splits(name):
    """The splits the pipeline reads of a dataset: train, and the evaluation split of the target."""
    return list(dict.fromkeys(["train", config["evaluation"]["split"]])) if name == TARGET else ["train"]


def dataset_input(name):
    """A proxy dataset is produced by rule synth; a real one is an existing folder, checked by the CLI.
    With `cache: true`, the decoded-sample caches of its splits (rule cache_dataset) too, as
    ancient inputs: built when missing, but a rebuilt cache (same pixels) reruns nothing after it."""
    d = config["datasets"][name]
    files = [d["root"]] if d.get("proxy") else []
    if d.get("cache"):
        files += [ancient(f"{R}/cache/{name}/{split}.h5") for split in dataset_splits(name)]
    return files


def table_inputs(wildcards):
    """The evaluation file of every row of a table (TABLE_ROWS in rules/report.smk)."""
    source = TABLE_SOURCE.get(wildcards.table, "gta5")
    if source not in config["datasets"]:
        raise ValueError(f"{wildcards.table} needs the source dataset '{source}' in config 'datasets'")
    return {row: f"{R}/{source}/eval/{model}.json" for row, model in TABLE_ROWS[wildcards.table].items()}


def selection_masks(wildcards):
    """The label masks a region/pixel selection list refers to (none for image-level lists)."""
    if wildcards.strategy in REGION_STRATEGIES:
        return [f"{R}/{wildcards.source}/select/{wildcards.strategy}/{wildcards.budget}/masks.h5"]
    return []


def base_objective(objective):
    """'ripu+ripu_d' -> 'ripu': an objective (or strategy) without its variant."""
    return objective.split("+")[0]


base_strategy = base_objective


def variant_flag(*names):
    """'ripu+ripu_d' -> '--variant ripu_d' (adaseg.ablations: named variants, config `variants`, sweep
    points), one flag per name that has a variant, in order; '' if none."""
    flags = []
    for name in names:
        variant = name.partition("+")[2]
        if variant and resolve_variant(config, variant) is None:
            raise ValueError(f"unknown variant '{variant}' in '{name}' (adaseg.ablations or config 'variants')")
        flags += [f"--variant {variant}"] if variant else []
    return " ".join(flags)


def variant_overrides(*names):
    """The variants' config overrides, as a rerun trigger ('' when no name has a variant)."""
    picked = [resolve_variant(config, n.partition("+")[2]) for n in names if "+" in n]
    return json.dumps(picked, sort_keys=True) if picked else ""


def round_model(wildcards):
    """The model that selects in round r: the warm-up, then the fine-tune of round r-1."""
    r = int(wildcards.round)
    w = wildcards
    return INIT if r == 1 else f"finetune/{w.strategy}/{w.budget}/{w.objective}/round{r - 1}"


def round_checkpoint(wildcards):
    return f"{R}/{wildcards.source}/{round_model(wildcards)}.pt"


def previous_round_masks(wildcards):
    r = int(wildcards.round)
    if r == 1:
        return []
    w = wildcards
    return [f"{R}/{w.source}/select/{w.strategy}/{w.budget}/{w.objective}/round{r - 1}/masks.h5"]


def per_round_budget(wildcards):
    return f"{float(wildcards.budget) / int(config['multi_round']['rounds']):g}"


def domain_dataset(wildcards):
    return wildcards.source if wildcards.domain == "source" else TARGET


wildcard_constraints:
    source="|".join(SOURCES) or "none",
    dataset="|".join(config["datasets"]),
    kind="source_only|adaptseg",
    strategy=r"[a-z][a-z0-9_]*(\+[A-Za-z0-9_]+)?",
    budget="[0-9.]+",
    domain="source|target",
    model="(warmup|finetune)/[A-Za-z0-9_./+]+",
    round="[1-9][0-9]*",
    objective=r"(stage1|ripu|mcu)(\+[A-Za-z0-9_]+)?",


def table_title(name):
    """The title of a table (src/adaseg/report/tables.py TABLES), for the report caption."""
    from adaseg.report.tables import TABLES

    return TABLES[name][0].format(budget=BUDGET, rounds=ROUNDS)


def anchor_sweep(strategy, objective):
    """mIoU against the number of source / target anchors (figures.anchor_counts) of one method."""
    return [
        (f"{label}|{k}", f"eval/finetune/{strategy}+{sweep_variant(sweep, k)}/{BUDGET}/{objective}.json")
        for sweep, label in [("src_anchors", "source anchors (a)"), ("tgt_anchors", "target anchors (b)")]
        for k in ANCHORS
    ]


def round_curves():
    """mIoU after every round of the 5% chains: round r has budget * r / rounds labelled."""
    return [
        (f"{label}|{ROUND_PERCENT[r]}", f"eval/finetune/{strategy}/{BUDGET}/stage1/round{r}.json")
        for strategy, label in [("d2ada", "ADeADA (d2ada)"), ("region_entropy", "ENT (region_entropy)")]
        for r in range(1, ROUNDS + 1)
    ]


def figure_items(name):
    """(key, file) inputs of figure `name` (FIGURE_ITEMS in rules/figures.smk), paths under its source."""
    source = FIGURE_SOURCE.get(name, "gta5")
    if source not in config["datasets"]:
        raise ValueError(f"figure {name} needs the source dataset '{source}' in config 'datasets'")
    return [(key, f"{R}/{source}/{path}") for key, path in FIGURE_ITEMS[name]]


def shared_files(source):
    """The files a DVC remote shares for a source (rule shared_<source>, dvc.yaml proxy_data/warmup/
    selections stages), the decoded-sample caches the warm-up reads included (a cache rebuilt after
    a pulled warm-up would make it outdated)."""
    feats = f"{R}/{source}/features/{INIT}"
    sel = f"{R}/{source}/select"
    caches = [f for name in (source, TARGET) for f in dataset_input(name) if "/cache/" in str(f)]
    return (
        [str(f) for f in caches]
        + [f"{R}/{source}/warmup/{kind}.pt" for kind in ("source_only", "adaptseg")]
        + [f"{feats}/{domain}.h5" for domain in ("source", "target")]
        + [f"{sel}/random/{BUDGET}/selection.json"]
        + [f"{sel}/{s}/{BUDGET}/{f}" for s in ("mada", "madav2") for f in ("selection.json", "scores.npz")]
    )
