"""The registry (src/adaseg/registry/): every strategy, objective, table and figure named once, and
a new strategy added by one entry plus its scoring function runs through the DAG."""
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from adaseg.registry import FIGURES, OBJECTIVES, STRATEGIES, TABLES, Scale, objective, run_path, split_run, strategy
from adaseg.registry.runs import WARMUP, seed_of
from conftest import cli_env

SCALE = Scale(budget="5", rounds=5, budgets=("1", "5"), anchors=(1, 10))


def test_run_paths_round_trip():
    assert split_run("finetune/s2/mada+src_anchors_2/5/stage2/round1of1") == {
        "seed": "2", "strategy": "mada+src_anchors_2", "budget": "5", "objective": "stage2", "round": "1", "rounds": "1"}
    assert split_run("warmup/s0/adaptseg") is None
    assert seed_of("warmup/s3/adaptseg") == 3 and seed_of("finetune/s12/full/100/stage1/round1of1") == 12
    cfg = {"seeds": [4, 5], "mada": {"budget": 5.0}, "multi_round": {"rounds": 3},
           "figures": {"budgets": [1, 2.5], "anchor_counts": [4]}, "warmup": {"per_seed": True}}
    assert Scale.from_config(cfg) == Scale("5", 3, ("1", "2.5"), (4,), (4, 5), True)


def test_seeds_expand_runs_and_share_the_warmup():
    shared = Scale("5", 5, (), (), seeds=(3, 1, 2))
    assert shared.seeded(WARMUP) == [(3, "warmup/s3/adaptseg")]           # one warm-up: the first seed's
    assert shared.seeded(run_path("mada")) == [(3, "finetune/s3/mada/5/stage1/round1of1"),
                                               (1, "finetune/s1/mada/5/stage1/round1of1"),
                                               (2, "finetune/s2/mada/5/stage1/round1of1")]
    per_seed = Scale("5", 5, (), (), seeds=(3, 1), warmup_per_seed=True)
    assert per_seed.seeded(WARMUP) == [(3, "warmup/s3/adaptseg"), (1, "warmup/s1/adaptseg")]
    t = TABLES["table1_gta"]
    assert t.evaluations(shared)["random"] == [(s, f"eval/finetune/s{s}/random/5/stage1/round1of1.json") for s in (3, 1, 2)]
    refs = t.references(shared)
    assert refs["mada_full"] == t.evaluations(shared)["random"]              # random at the row's budget and seed
    # region and pixel rows: the random selection of their own unit, budget, round, rounds and objective
    assert refs["ripu_ra"][0] == (3, "eval/finetune/s3/random_squares/5/ripu/round5of5.json")
    r1 = TABLES["ripu_table1"].references(shared)                            # the 2.2% rows
    assert r1["ripu_ra_2p2"][0] == (3, "eval/finetune/s3/random_squares/2.2/ripu/round5of5.json")
    assert refs["ripu_pa"][0] == (3, "eval/finetune/s3/random_pixels_pa/5/ripu/round5of5.json")
    assert refs["d2ada"][0] == (3, "eval/finetune/s3/random_superpixels/5/d2ada/round5of5.json")
    assert refs["mcu"][0] == (3, "eval/finetune/s3/random_pixels/5/mcu/round5of5.json")
    # the random rows of the other units are compared with random images at their budget
    assert r1["random_squares_2p2"][0] == (3, "eval/finetune/s3/random/2.2/stage1/round1of1.json")
    assert refs["random_superpixels"] == t.evaluations(shared)["random"]
    assert refs["random"] == t.evaluations(shared)["random"]                 # the reference row itself
    assert refs["fully_supervised"][0] == (3, "eval/finetune/s3/random/5/stage1/round1of1.json")  # the table's budget
    assert refs["adaptseg"] == [(3, "eval/finetune/s3/random/5/stage1/round1of1.json")]


def test_every_row_names_its_random_reference():
    """The 'random reference' column: unit, budget, rounds and objective of the run each row is
    compared with; every table1_gta row has one, and oracles are compared with their unit's random."""
    scale = Scale("5", 2, (), (), seeds=(0,))
    labels = TABLES["table1_gta"].reference_labels(scale)
    assert labels["ripu_ra"] == "random 3x3 squares, 5%, round 2 of 2, ripu"
    assert labels["ripu_pa"] == "random pixels, ripu.pa_pixels_per_image px per image, round 2 of 2, ripu"
    assert labels["d2ada"] == "random superpixels, 5%, round 2 of 2, d2ada"
    assert labels["mada_full"] == labels["random"] == "random images, 5%, stage 1"
    assert set(labels) == {r.key for r in TABLES["table1_gta"].rows_at(scale) if r.run}
    oracles = TABLES["table_oracles_gta"].references(scale)
    assert oracles["oracle_squares_balanced"] == [(0, "eval/finetune/s0/random_squares/5/stage1/round1of1.json")]
    assert oracles["oracle_superpixels"] == [(0, "eval/finetune/s0/random_superpixels/5/stage1/round1of1.json")]
    assert oracles["oracle_loss"] == [(0, "eval/finetune/s0/random/5/stage1/round1of1.json")]
    assert oracles["oracle_pixels"] == [(0, "eval/finetune/s0/random_pixels/5/stage1/round1of1.json")]


def test_oracles_are_marked_and_never_rows_of_the_method_tables():
    from adaseg.registry import STRATEGIES
    oracles = {n for n, s in STRATEGIES.items() if s.oracle}
    assert oracles == {"oracle_loss", "oracle_balanced", "oracle_squares", "oracle_squares_balanced", "oracle_pixels",
                       "oracle_pixels_balanced", "oracle_superpixels", "oracle_superpixels_balanced"}
    for t in TABLES.values():
        if t.name == "table_oracles_gta":
            continue
        for r in t.rows_at(SCALE):
            assert not r.run or not any(f"/{o}/" in r.run for o in oracles), (t.name, r.key)


def test_every_table_row_is_a_known_run():
    """Rows have unique keys; every computed row is a warm-up or a run path whose strategy and
    objective are registered (variants included) and whose round fits its chain."""
    for t in TABLES.values():
        rows = t.rows_at(SCALE)
        assert len({r.key for r in rows}) == len(rows), t.name
        assert t.runs_at(SCALE), t.name
        for r in rows:
            if r.run is None or r.run.startswith("warmup/"):
                continue
            run = split_run(SCALE.at_seed(r.run, 0))
            assert run, (t.name, r.run)
            s, o = strategy(run["strategy"]), objective(run["objective"])
            assert int(run["round"]) <= int(run["rounds"]), r.run
            assert s.multi_round or run["rounds"] == "1", r.run
            assert not o.starts_from or run["rounds"] == "1", r.run
            assert "{" not in r.label + r.run.replace("{seed}", ""), r


def test_every_figure_reads_known_files():
    for f in FIGURES.values():
        items = f.items(SCALE)
        assert items and len({k for k, _ in items}) == len(items), f.name
        for _, path in f.inputs(SCALE):
            model = path.removeprefix("eval/").removesuffix(".json").removesuffix(".pt").removesuffix(".curve.csv")
            if model.startswith("finetune/"):
                assert split_run(model), path


def test_names_are_unique_and_lookups_name_the_registry():
    assert set(STRATEGIES) and set(OBJECTIVES)
    with pytest.raises(ValueError, match="registry/strategies.py"):
        strategy("no_such_strategy")
    assert strategy("mada+src_anchors_2").name == "mada" and objective("ripu+ripu_d").name == "ripu"


def test_every_registered_strategy_resolves_to_its_function():
    """Each registry entry names a function that exists; image-level entries read only fields the
    feature dumps write; the CLI offers exactly the registered strategies of each runner."""
    from adaseg.cli import build_parser
    from adaseg.registry import STRATEGIES, strategies_run_by

    dump_fields = {"features", "counts", "pooled", "entropy", "confidence", "margin", "disc_source_prob",
                   "grad_embedding", "true_loss", "true_class_loss", "true_class_pixels"}   # true_*: oracles only
    for s in STRATEGIES.values():
        assert callable(s.scorer()), s.name
        if s.runner == "image":
            assert {f.split(":")[1] for f in s.reads} <= dump_fields, s.name
    sub = next(a for a in build_parser()._actions if a.dest == "cmd").choices
    for cmd, runner in [("select", "image"), ("select-regions", "model"), ("select-superpixels", "superpixel")]:
        choices = next(a for a in sub[cmd]._actions if a.dest == "strategy").choices
        assert list(choices) == strategies_run_by(runner)


TOY_ENTRY = ('    _image("confident_first", "Most confident first (toy)", "uncertainty", '
             '"adaseg.select.toy:confident_first", ["target:entropy"]),\n')
TOY_MODULE = '''"""A toy strategy: the images the warm-up model is most sure about first."""


def confident_first(inputs):
    return -inputs.target("entropy"), {}
'''


@pytest.mark.slow
def test_a_new_strategy_is_one_entry_and_one_function(tiny_workspace, tmp_path):
    """README "Adding a strategy": a copy of the package with one registry entry and one scoring
    function, nothing else changed, runs select -> fine-tune -> evaluate through Snakemake on the
    tiny pipeline, and the selection takes the lowest-entropy images."""
    import h5py

    work, cfg, cfg_path = tiny_workspace
    # the edit goes into the workflow copy's own src/, which its jobs run (rules/common.smk puts it
    # first on PYTHONPATH) and which Snakemake imports here; undone afterwards (the copy is shared)
    src = work / "src"
    registry = src / "adaseg" / "registry" / "strategies.py"
    text = registry.read_text()
    anchor = "STRATEGIES: dict[str, Strategy] = {s.name: s for s in [\n"
    assert anchor in text
    toy = src / "adaseg" / "select" / "toy.py"
    env = cli_env()
    env["PYTHONPATH"] = str(src)
    target = "results/gta5/eval/finetune/s0/confident_first/10/stage1/round1of1.json"
    try:
        registry.write_text(text.replace(anchor, anchor + TOY_ENTRY))
        toy.write_text(TOY_MODULE)
        run = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", target], cwd=work, env=env,
                             capture_output=True, text=True, timeout=900)
    finally:
        registry.write_text(text)
        toy.unlink(missing_ok=True)
    assert run.returncode == 0, run.stderr[-4000:]
    assert pd.read_json(work / target, typ="series")["miou"] >= 0
    sel = pd.read_json(work / "results/gta5/select/s0/confident_first/10/stage1/round1of1/selection.json", typ="series")
    with h5py.File(work / "results/gta5/features/warmup/s0/adaptseg/target.h5") as h5:
        ids = [i.decode() if isinstance(i, bytes) else i for i in h5["ids"][:]]
        entropy = h5["entropy"][:].ravel()
    lowest = [ids[i] for i in entropy.argsort(kind="stable")[:len(sel["selected"])]]
    assert sel["strategy"] == "confident_first" and [e["id"] for e in sel["selected"]] == lowest
    shutil.rmtree(work / "results/gta5/finetune/s0/confident_first", ignore_errors=True)


def test_objectives_carry_their_official_training_protocol():
    """Each objective's batch-norm mode, schedule and round shares as its official code runs it:
    MADA and MADAv2 forward every stream part on its own, RIPU and D2ADA freeze batch norm, ADA-MCU
    (no official code) forwards one joint batch; D2ADA restarts the schedule every round, RIPU
    gives its rounds the shares of its selection iterations."""
    from adaseg.train.common import ROUND_SHARES
    from adaseg.train.finetune import BN_MODES, SCHEDULES
    from adaseg.train.mada import stage1_step

    assert {n: o.bn for n, o in OBJECTIVES.items()} == {
        "stage1": "per_domain", "stage2": "per_domain", "madav2": "per_domain", "ripu": "frozen", "mcu": "joint",
        "d2ada": "frozen"}
    assert all(o.bn in BN_MODES and o.round_shares in ROUND_SHARES and o.schedule in (None, *SCHEDULES)
               for o in OBJECTIVES.values())
    assert {n for n, o in OBJECTIVES.items() if o.schedule} == {"d2ada"} and objective("d2ada").schedule == "restart"
    assert {n for n, o in OBJECTIVES.items() if o.round_shares != "equal"} == {"ripu"}
    assert objective("ripu").round_shares == "ripu"
    d2ada = objective("d2ada")
    assert d2ada.section == "stage1" and d2ada.step_builder() is stage1_step and d2ada.config == ()
    assert "D2ADA" in d2ada.description and not d2ada.starts_from and not d2ada.image_level_only


def test_the_cli_offers_the_d2ada_objective():
    from adaseg.cli import build_parser

    args = build_parser().parse_args(["finetune", "--config", "c.yaml", "--objective", "d2ada", "--init", "i.pt",
                                      "--selection", "s.json", "--source", "gta5", "--target", "cityscapes",
                                      "--out", "o.pt", "--round", "2", "--rounds", "5"])
    assert args.objective == "d2ada" and (args.round, args.rounds) == (2, 5)
