# Shared definitions: result paths, dataset inputs, the effective config every rule reads.
import hashlib
import json
import os
import shlex
from pathlib import Path

from adaseg.ablations import resolve_variant
from adaseg.gpu_slots import visible_gpus
from adaseg.registry import FIGURES, OBJECTIVES, TABLES, Scale, figure, objective, split_run, strategies_run_by, strategy, table
from adaseg.registry.runs import WARMUP, WARMUP_KINDS, run_path, seed_of
from adaseg.registry.strategies import SHARED_SELECTIONS
from adaseg.registry.tables import MAIN_TABLE
from adaseg.report.regime import REGIME_ROWS

R = config["results"]
TARGET = config["target"]
ORACLE = config["oracle"]   # ground_truth | labelstudio (rules/annotate.smk)
SOURCES = [name for name in config["datasets"] if name != TARGET]
PROXY_DIR = config.get("proxy", {}).get("dir", "data/proxy")
LOGS = f"{R}/logs"
# the config values tables and figures are written with (budget, rounds, sweeps)
SCALE = Scale.from_config(config)
BUDGET = SCALE.budget
SEEDS = list(SCALE.seeds)


def init_model(seed):
    """The model every chain of `seed` selects with, and fine-tunes from, first: the AdaptSeg warm-up
    (MADA Algorithm 1, step 1), one shared by all seeds unless warmup.per_seed."""
    return SCALE.at_seed(WARMUP, int(seed))

# Devices. Every rule that runs the network declares the GPUs it takes (resources gpu=..., so that
# `snakemake --cores all --resources gpu=N` runs at most N GPUs' worth of jobs at once) and its
# memory (mem_mb); `adaseg.gpu_slots` hands each job its own GPUs. A training stage with
# train.gpus > 1 runs data-parallel under torchrun (one process per GPU).
# device `cuda` asks for GPUs wherever the jobs run (a scheduler's nodes); `auto` only when the machine
# that runs Snakemake has GPUs (ADASEG_GPUS, else nvidia-smi: the proxy on a workstation), so that
# the proxy on a CPU machine or a CPU partition asks for none.
ON_GPU = config.get("device", "auto") == "cuda" or (config.get("device", "auto") == "auto" and bool(visible_gpus()))
TRAIN_GPUS = int(config["train"].get("gpus", 1))
MEM_MB = int(config["train"].get("mem_mb", 8000))
GPU_TRAIN = TRAIN_GPUS if ON_GPU else 0
GPU_INFER = 1 if ON_GPU else 0
CLUSTER = config["cluster"]   # validated: the schema fills its defaults


def job_resources(kind, gpus=0):
    """The resources of a job of `kind` (train | infer | other, the keys of cluster.runtime): its GPUs
    (with cluster.gpu_model), memory, runtime in minutes, CPUs (the threads) and, where the config
    names them, the SLURM partition and account (snakemake-executor-plugin-slurm's resource names)."""
    res = {"mem_mb": MEM_MB if kind != "other" else 2000,
           "runtime": int(CLUSTER["runtime"][kind]),   # minutes; the schema's defaults fill cluster.runtime
           "cpus_per_task": int(config["threads"]) if kind != "other" else 1}
    if gpus:
        res["gpu"] = gpus
        if CLUSTER.get("gpu_model"):
            res["gpu_model"] = CLUSTER["gpu_model"]
    for key in ("partition", "account"):
        if CLUSTER.get(key):
            res[f"slurm_{key}"] = CLUSTER[key]
    return res
# the precision every network pass runs in: a rerun trigger of the rules that only run the network
PRECISION = f" precision={config['train'].get('precision', 'fp32')}"


# Every job runs this checkout's package as `python -m adaseg` with src/ on PYTHONPATH, so a job needs
# the dependencies only: the venv of the README, or the conda env envs/adaseg.yaml (--sdm conda),
# which cannot install the package itself (Snakemake builds it from a copy of the file).
ADASEG = "python -m adaseg"
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(Path(workflow.basedir) / "src")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


def launch(train=False):
    """The command that starts `adaseg` in a job that runs the network, behind the GPU-slot wrapper
    when the job takes GPUs; a training stage with train.gpus > 1 starts torchrun with that many."""
    n = TRAIN_GPUS if train else 1
    cmd = f"torchrun --standalone --nproc_per_node {n} -m adaseg" if n > 1 else ADASEG
    gpus = n if ON_GPU else 0
    return f"python -m adaseg.gpu_slots --gpus {gpus} -- {cmd}" if gpus else cmd


for _name, _d in config["datasets"].items():
    if _d.get("proxy") and _d["root"] != f"{PROXY_DIR}/{_name}":
        raise ValueError(
            f"datasets.{_name}: a proxy dataset is generated into {PROXY_DIR}/{_name}, not {_d['root']}"
        )

# The frozen config of this invocation: config.yaml merged with --config/--configfile and the schema
# defaults, written once to a content-addressed snapshot results/configs/<sha256>.json that no
# other invocation rewrites (another config is another file). Every job reads it through
# $ADASEG_CONFIG, which this process sets for the jobs it starts (and a cluster job's own parse
# sets to the same file); the path is not a rule parameter, so a config change reruns only the
# rules whose sections changed: each rule carries the sections it reads as `params.cfg`.
_text = json.dumps(config, indent=1, sort_keys=True)
CONFIG_JSON = f"{R}/configs/{hashlib.sha256(_text.encode()).hexdigest()}.json"
if not Path(CONFIG_JSON).exists():
    Path(CONFIG_JSON).parent.mkdir(parents=True, exist_ok=True)
    _tmp = Path(f"{CONFIG_JSON}.{os.getpid()}.tmp")
    _tmp.write_text(_text)
    _tmp.replace(CONFIG_JSON)
os.environ["ADASEG_CONFIG"] = CONFIG_JSON


def sections(*keys, datasets=()):
    """The config sections a rule depends on, as a canonical string (a rerun trigger). A dataset's
    `cache` switch is left out: the decoded-sample cache holds the same pixels as the PNGs."""
    picked = {k: config.get(k) for k in keys}
    if isinstance(picked.get("warmup"), dict):   # per_seed only names the warm-up's path (its seed)
        picked["warmup"] = {k: v for k, v in picked["warmup"].items() if k != "per_seed"}
    # `labels: files` is the default every config had before the key existed: left out, so it reruns nothing
    picked["datasets"] = {d: {k: v for k, v in config["datasets"][d].items()
                              if k != "cache" and not (k == "labels" and v == "files")} for d in datasets}
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


def variant_flag(*names):
    """'ripu+ripu_d' -> '--variant ripu_d' (adaseg.ablations: named variants, config `variants`, sweep
    points), one flag per name that has a variant, in order; '' if none."""
    flags = []
    for name in names:
        variant = name.partition("+")[2]
        if variant and resolve_variant(config, variant) is None:
            raise ValueError(f"unknown variant '{variant}' in '{name}' (adaseg.ablations or config 'variants')")
        flags += [f"--variant {shlex.quote(variant)}"] if variant else []
    return " ".join(flags)


def variant_overrides(*names):
    """The variants' config overrides, as a rerun trigger ('' when no name has a variant)."""
    picked = [resolve_variant(config, n.partition("+")[2]) for n in names if "+" in n]
    return json.dumps(picked, sort_keys=True) if picked else ""


def domain_dataset(wildcards):
    return wildcards.source if wildcards.domain == "source" else TARGET


# --- runs: round r of a chain of R rounds (src/adaseg/registry/runs.py) ---------------------------
RUN = "s{seed}/{strategy}/{budget}/{objective}/round{round}of{rounds}"
SEL = f"{R}/{{source}}/select/{RUN}"
FTR = f"{R}/{{source}}/finetune/{RUN}"


def check_run(w):
    """Refuse a run path the pipeline cannot run, naming what to change."""
    s, o, r, n = strategy(w.strategy), objective(w.objective), int(w.round), int(w.rounds)
    run = run_path(w.strategy, w.budget, w.objective, r, n, w.seed)
    if r > n:
        raise ValueError(f"{run}: round {r} of {n} rounds")
    if n > 1 and not s.multi_round:
        raise ValueError(f"{run}: {s.name} selects whole images in one round (round1of1)")
    if o.starts_from and n > 1:
        raise ValueError(f"{run}: {o.name} starts from the {o.starts_from} model of one round (round1of1)")
    if o.image_level_only and s.unit != "image":
        raise ValueError(f"{run}: {o.name} takes image-level selections; {s.name} labels {s.unit}s")


def chain_objective(w):
    """The objective whose chain selects: a semi-supervised objective reads the selection of the
    model it starts from (the stage-1 run of the same strategy and budget)."""
    return objective(w.objective).starts_from or w.objective


def selection_dir(w):
    return f"{R}/{w.source}/select/s{w.seed}/{w.strategy}/{w.budget}/{chain_objective(w)}/round{w.round}of{w.rounds}"


def selecting_model(w):
    """The model that selects in round r: the warm-up, then the fine-tune of round r-1."""
    check_run(w)
    r = int(w.round)
    return init_model(w.seed) if r == 1 else run_path(w.strategy, w.budget, w.objective, r - 1, w.rounds, w.seed)


def selecting_checkpoint(w):
    return f"{R}/{w.source}/{selecting_model(w)}.pt"


def previous_round_masks(w):
    r = int(w.round)
    if r == 1:
        return []
    return [f"{R}/{w.source}/select/s{w.seed}/{w.strategy}/{w.budget}/{w.objective}/round{r - 1}of{w.rounds}/masks.h5"]


def per_round_budget(w):
    return f"{float(w.budget) / int(w.rounds):g}"


def model_variants(model):
    """The variant flags of a model path (its strategy's, then its objective's; none for a warm-up)."""
    run = split_run(model)
    return (run["strategy"], run["objective"]) if run else ()


wildcard_constraints:
    source="|".join(SOURCES) or "none",
    dataset="|".join(config["datasets"]),
    kind="|".join(WARMUP_KINDS),
    seed="[0-9]+",
    strategy=r"[a-z][a-z0-9_]*(\+[A-Za-z0-9_]+)?",
    budget="[0-9.]+",
    domain="source|target",
    model="(warmup|finetune)/s[0-9]+/[A-Za-z0-9_./+]+",
    round="[1-9][0-9]*",
    rounds="[1-9][0-9]*",
    objective=rf"({'|'.join(OBJECTIVES)})(\+[A-Za-z0-9_]+)?",


def warmup_files(source, seed, exts=("pt",)):
    """The warm-up checkpoints of a seed (and, with exts, their training curves)."""
    return [f"{R}/{source}/warmup/s{seed}/{kind}.{ext}" for kind in WARMUP_KINDS for ext in exts]


def warmup_feature_dumps(source, seed):
    return [f"{R}/{source}/features/warmup/s{seed}/adaptseg/{domain}.h5" for domain in ("source", "target")]


def shared_selection_files(source, seed, files=("selection.json",)):
    """The image-level selection lists at the budget that a DVC remote shares (SHARED_SELECTIONS)."""
    return [f"{R}/{source}/select/s{seed}/{s}/{BUDGET}/stage1/round1of1/{f}" for s in SHARED_SELECTIONS for f in files]


def shared_files(source):
    """The files a DVC remote shares for a source (rule shared_<source>, dvc.yaml proxy_data/warmup/
    selections stages), the decoded-sample caches the warm-up reads included (a cache rebuilt after
    a pulled warm-up would make it outdated)."""
    warmups = sorted({SCALE.warmup_seed(s) for s in SEEDS})
    caches = [f for name in (source, TARGET) for f in dataset_input(name) if "/cache/" in str(f)]
    return (
        [str(f) for f in caches]
        + [f for seed in warmups for f in warmup_files(source, seed, ("pt", "curve.csv"))]
        + [f for seed in warmups for f in warmup_feature_dumps(source, seed)]
        + [f for seed in SEEDS for f in shared_selection_files(source, seed, ("selection.json", "scores.npz"))]
    )


# --- inputs and flags of the selection, fine-tuning, table and figure rules -------------------------
def variant_strategy(runner):
    return rf"({'|'.join(strategies_run_by(runner))})(\+[A-Za-z0-9_]+)?"


def image_features(w):
    """The warm-up feature dumps an image-level strategy reads (none for random / full)."""
    selecting_model(w)
    domains = sorted({field.split(":")[0] for field in strategy(w.strategy).reads})
    return {domain: f"{R}/{w.source}/features/{init_model(w.seed)}/{domain}.h5" for domain in domains}


def feature_flags(wildcards, input):
    return " ".join(f"--{domain}-features {shlex.quote(input[domain])}" for domain in ("source", "target") if domain in input.keys())


def superpixel_inputs(w):
    """Region features of the selecting model (the source's only for the density part) and superpixels."""
    model = selecting_model(w)
    files = {f"{domain}_regions": f"{R}/{w.source}/regions/{model}/{domain}.h5" for domain in strategy(w.strategy).reads}
    return dict(files, superpixels=f"{R}/superpixels/{TARGET}.h5")


def finetune_inputs(w):
    check_run(w)
    o, sel = objective(w.objective), selection_dir(w)
    files = dict(selection=f"{sel}/selection.json", source_data=dataset_input(w.source), target_data=dataset_input(TARGET))
    if o.starts_from:
        start = run_path(w.strategy, w.budget, o.starts_from, seed=w.seed)
        files.update(init=f"{R}/{w.source}/{start}.pt", anchors=f"{R}/{w.source}/target_anchors/{start}.npz",
                     pseudo=f"{R}/{w.source}/pseudo_labels/{start}.h5")
    else:
        files["init"] = selecting_checkpoint(w)
    if strategy(w.strategy).unit != "image":
        files["masks"] = f"{sel}/masks.h5"
    return files


def annotated_label_inputs(w):
    """oracle: labelstudio: the annotators' labels of the run's selection round and the labelled
    pixels, known once checkpoint annotated_labels has run (a function of its own, so that the
    other inputs stay known while the checkpoint waits)."""
    if ORACLE != "labelstudio":
        return {}
    labelled = checkpoints.annotated_labels.get(**selection_wildcards(w)).output
    return {"labels": labelled.labels, "label_masks": labelled.masks}


def oracle_flags(wildcards, input):
    keys = input.keys()
    return f"--labels {shlex.quote(input.labels)} --label-masks {shlex.quote(input.label_masks)}" if "labels" in keys else ""


def selection_wildcards(w):
    """The wildcards of the selection round a run reads (its chain objective's)."""
    return dict(source=w.source, seed=w.seed, strategy=w.strategy, budget=w.budget, objective=chain_objective(w),
                round=w.round, rounds=w.rounds)


def selection_files(w):
    """A selection round's list and, for regions and pixels, its masks."""
    sel = selection_dir(w)
    return [f"{sel}/selection.json"] + ([f"{sel}/masks.h5"] if strategy(w.strategy).unit != "image" else [])


def previous_round_annotation(w):
    """The annotators' labels and labelled pixels of the chain's previous round (none in round 1)."""
    r = int(w.round)
    if r == 1:
        return {}
    prev = f"{R}/{w.source}/select/s{w.seed}/{w.strategy}/{w.budget}/{w.objective}/round{r - 1}of{w.rounds}/annotation"
    return {"previous_labels": f"{prev}/labels", "previous_masks": f"{prev}/masks.h5"}


def previous_annotation_flags(wildcards, input):
    keys = input.keys()
    if "previous_labels" not in keys:
        return ""
    return (f"--previous-labels {shlex.quote(input.previous_labels)} "
            f"--previous-masks {shlex.quote(input.previous_masks)}")


def semi_flags(wildcards, input):
    keys = input.keys()
    return f"--target-anchors {shlex.quote(input.anchors)} --pseudo-labels {shlex.quote(input.pseudo)}" if "anchors" in keys else ""


def table_evaluations(name):
    """(rows, references): row key -> [(seed, evaluation file)] of its runs at every seed, and of the
    random runs each is compared with (paired by seed), under the table's source dataset."""
    t = table(name)
    if t.source not in config["datasets"]:
        raise ValueError(f"{t.name} needs the source dataset '{t.source}' in config 'datasets'")
    under = lambda runs: {k: [(s, f"{R}/{t.source}/{path}") for s, path in v] for k, v in runs.items()}
    return under(t.evaluations(SCALE)), under(t.references(SCALE))


def table_inputs(wildcards):
    """Every evaluation file a table reads (its rows' and their references')."""
    rows, refs = table_evaluations(wildcards.table)
    return list(dict.fromkeys(path for runs in (rows, refs) for v in runs.values() for _, path in v))


def table_flags(wildcards):
    """--row KEY@SEED=EVAL and --reference KEY@SEED=EVAL flags of a table."""
    rows, refs = table_evaluations(wildcards.table)
    return " ".join(f"--{flag} {shlex.quote(f'{k}@{s}={path}')}" for flag, runs in (("row", rows), ("reference", refs))
                    for k, v in runs.items() for s, path in v)


def regime_rows(source="gta5"):
    """row key -> [(seed, evaluation file)] of the regime rows."""
    rows = {}
    for name in (MAIN_TABLE, "table_oracles_gta"):
        rows.update({k: v for k, v in table(name).evaluations(SCALE).items() if k in REGIME_ROWS})
    return {k: [(s, f"{R}/{source}/{p}") for s, p in v] for k, v in rows.items()}


def regime_dumps(source="gta5"):
    return {s: f"{R}/{source}/features/{init_model(s)}/target.h5" for s in SEEDS}


def table_title(name):
    """The title of a table, for the report caption."""
    return table(name).title_at(SCALE)


def figure_items(name):
    """(key, file) inputs of a figure, paths under its source dataset."""
    f = figure(name)
    if f.source not in config["datasets"]:
        raise ValueError(f"figure {name} needs the source dataset '{f.source}' in config 'datasets'")
    return [(key, f"{R}/{f.source}/{path}") for key, path in f.inputs(SCALE)]
