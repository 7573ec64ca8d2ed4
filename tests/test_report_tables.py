"""adaseg.report.tables: sweep, SYNTHIA and per-paper tables read their rows and their published values."""

import json

import pandas as pd
import pytest

from adaseg.registry import Scale
from adaseg.report.tables import build_table
from conftest import write_eval

SCALE = Scale(budget="5", rounds=5, budgets=("2",), anchors=(1,))


def test_sweep_table_rows_follow_the_evaluations(tmp_path):
    evals = {"ripu_tau_0p02": write_eval(tmp_path / "a.json", 10.0), "ripu_tau_0p2": write_eval(tmp_path / "b.json", 11.0)}
    df, title, note = build_table("ripu_table7", evals, SCALE)
    assert df["row"].tolist() == ["ripu_tau_0p02", "ripu_tau_0p2"]
    assert df["method"].tolist() == ["tau = 0.02", "tau = 0.2"]
    assert df["published mIoU"].tolist() == [69.54, 68.13]
    assert df["published in"].str.contains("RIPU").all() and "Table 7" in df["published in"].iloc[0]
    df, title, _ = build_table("mada_table5", {"b2": write_eval(tmp_path / "c.json", 9.0),
                                               "b100": write_eval(tmp_path / "d.json", 12.0)}, SCALE)
    assert df["published mIoU"].tolist() == [59.1, 69.3]
    assert df["method"].iloc[1].startswith("100%")


def test_synthia_table_reads_synthia_published_values(tmp_path):
    evals = {k: write_eval(tmp_path / f"{k}.json", 30.0, 33.0) for k in ("ripu_ra_2p2", "ripu_ra", "random")}
    df, _, _ = build_table("ripu_table2", {k: v for k, v in evals.items() if k != "random"}, SCALE)
    rep = df[df["values"] == "reproduced (adaseg)"].set_index("row")
    assert rep.loc["ripu_ra_2p2", "published mIoU"] == 70.1 and rep.loc["ripu_ra_2p2", "published mIoU13"] == 75.7
    df, _, _ = build_table("table1_synthia", {k: v for k, v in evals.items() if k != "ripu_ra_2p2"}, SCALE)
    rep = df[df["values"] == "reproduced (adaseg)"].set_index("row")
    assert rep.loc["ripu_ra", "published mIoU"] == 71.4
    assert rep.loc["random", "published in"] == ""          # no SYNTHIA number printed for it
    assert rep["mIoU13"].tolist() == [33.0, 33.0]


def test_per_paper_tables_read_their_published_values(tmp_path):
    ev = {k: write_eval(tmp_path / f"{k}.json", 20.0, 25.0) for k in ("adaptseg", "aada", "mada_full")}
    df, _, _ = build_table("mada_table2", ev, SCALE)              # SYNTHIA: 16-class mIoU and mIoU*
    assert df.loc[df["row"] == "aada", "published mIoU"].tolist() == [61.9]
    assert df.loc[df["row"] == "aada", "published mIoU13"].tolist() == [66.2]
    df, _, _ = build_table("mada_table1", {"aada": write_eval(tmp_path / "g.json", 20.0)}, SCALE)
    assert df.loc[(df["row"] == "aada") & (df["values"] != "published"), "published mIoU"].tolist() == [59.3]


def test_synthia_budget_table_has_only_the_13_class_published_value(tmp_path):
    df, _, _ = build_table("mcu_table2", {"b1.7": write_eval(tmp_path / "m.json", 20.0, 22.0)}, SCALE)
    row = df.iloc[0]
    assert row["method"] == "ADA-MCU, 1.7% of the target pixels" and row["published mIoU13"] == 66.2
    assert pd.isna(row["published mIoU"]) and "Table II" in row["published in"]


def _three_seeds(tmp_path, name, mious):
    return {s: write_eval(tmp_path / f"{name}_s{s}.json", m) for s, m in zip((0, 1, 2), mious)}


def test_three_seeds_give_means_stds_and_paired_intervals(tmp_path):
    """Hand-computed: mada - random = 3, 4, 5 (mean 4, sd 1): 4 ± t(0.975, 2) / sqrt(3) = 4 ± 2.484,
    significant; madav2 - random = 1, -1, 3 (mean 1, sd 2): 1 ± 4.968, not significant."""
    from adaseg.report.tables import write_table
    scale = Scale(budget="5", rounds=5, budgets=(), anchors=(), seeds=(0, 1, 2))
    random = _three_seeds(tmp_path, "random", (30.0, 31.0, 32.0))
    rows = {"random": random, "mada_stage1": _three_seeds(tmp_path, "mada", (33.0, 35.0, 37.0)),
            "madav2": _three_seeds(tmp_path, "madav2", (31.0, 30.0, 35.0)),
            "adaptseg": {0: write_eval(tmp_path / "warmup.json", 20.0)}}
    refs = {"random": random, "mada_stage1": random, "madav2": random, "adaptseg": {0: random[0]}}
    df = write_table("table1_gta", rows, tmp_path / "t", scale, refs)
    rep = df[df["values"] != "published"].set_index("row")
    assert rep.loc["mada_stage1", "n"] == 3 and rep.loc["mada_stage1", "mIoU"] == pytest.approx(35.0)
    assert rep.loc["mada_stage1", "mIoU std"] == pytest.approx(2.0) and rep.loc["mada_stage1", "road"] == pytest.approx(35.0)
    assert rep.loc["mada_stage1", "Δ vs random"] == pytest.approx(4.0)
    assert rep.loc["mada_stage1", "Δ low"] == pytest.approx(4 - 2.48413771, abs=1e-6)
    assert rep.loc["mada_stage1", "Δ high"] == pytest.approx(4 + 2.48413771, abs=1e-6)
    assert rep.loc["mada_stage1", "significant"] == True  # noqa: E712 (numpy bool)
    assert rep.loc["madav2", "Δ low"] == pytest.approx(1 - 4.96827542, abs=1e-6) and rep.loc["madav2", "significant"] == False  # noqa: E712
    assert rep.loc["adaptseg", "n"] == 1 and pd.isna(rep.loc["adaptseg", "mIoU std"])
    md = (tmp_path / "t.md").read_text()
    line = lambda label: next(l for l in md.splitlines() if l.startswith(f"| {label}"))
    assert "| 3 |" in line("MADA 5% stage 1") and "35.0 ± 2.0" in line("MADA 5% stage 1")
    assert "+4.0 [+1.5, +6.5] |" in line("MADA 5% stage 1")
    assert "+1.0 [-4.0, +6.0] n.s." in line("MADAv2") and "32.0 ± 2.6" in line("MADAv2")
    assert "reference" in line("Random") and "-10.0 (n = 1)" in line("AdaptSeg")
    assert "paired samples" in md and "n.s." in md and "seeds 0, 1, 2" in md
    tex = (tmp_path / "t.tex").read_text()
    assert r"35.0 $\pm$ 2.0" in tex and "n.s." in tex and r"MADA 5\% stage 1" in tex
    html = (tmp_path / "t.html").read_text()
    assert 'class="ns"' in html and "+1.0 [-4.0, +6.0] n.s." in html
    metrics = json.loads((tmp_path / "t.metrics.json").read_text())
    assert metrics["mada_stage1"]["mIoU"] == pytest.approx(35.0) and metrics["mada_stage1"]["mIoU_std"] == pytest.approx(2.0)
    assert metrics["mada_stage1"]["n"] == 3 and metrics["mada_stage1"]["delta_low"] == pytest.approx(1.51586, abs=1e-4)
    assert metrics["adaptseg"]["mIoU_std"] is None
    # a single pair has no interval: null, never NaN (which strict JSON readers refuse)
    assert metrics["adaptseg"]["delta_low"] is None and metrics["adaptseg"]["delta_high"] is None
    json.loads((tmp_path / "t.metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in metrics"))
    assert pd.read_csv(tmp_path / "t.miou.csv").columns.tolist() == ["row", "mIoU", "mIoU_std"]


def test_the_regime_of_a_main_table_by_hand(tmp_path):
    """Warm-up 27, random 36, full 45 (one class 'road'): the warm-up is 0.6 of full, random recovers
    (36 - 27) / (45 - 27) = 50% and full is 9 above random; the footnote and the metrics say so."""
    from adaseg.report.regime import regime
    from adaseg.report.tables import write_table
    rows = {"adaptseg": write_eval(tmp_path / "w.json", 27.0), "random": write_eval(tmp_path / "r.json", 36.0),
            "fully_supervised": write_eval(tmp_path / "f.json", 45.0)}
    df = write_table("table1_gta", rows, tmp_path / "t", SCALE)
    where = regime(df, ["road"])
    assert where.recovered == pytest.approx(0.5) and where.full_above_random == pytest.approx(9.0)
    assert where.warmup_share == pytest.approx(0.6) and where.classes_learnt == 1 and where.in_regime()
    assert "random images recover 50% of the gap" in (tmp_path / "t.md").read_text()
    assert json.loads((tmp_path / "t.metrics.json").read_text())["regime"]["recovered"] == pytest.approx(0.5)
    weak = write_table("table1_gta", dict(rows, adaptseg=write_eval(tmp_path / "w2.json", 15.0)), tmp_path / "t2", SCALE)
    assert not regime(weak, ["road"]).in_regime()            # a warm-up at 0.33 of full supervision
    assert regime(df[df["row"] != "random"], ["road"]) is None


def test_a_table_where_full_supervision_is_not_above_the_warm_up_has_no_gap(tmp_path):
    """Warm-up 20, random 15, full 20 (a tiny run): the recovered share is undefined, the table is still
    written, its footnote says there is no gap and the regime is not met."""
    from adaseg.report.regime import regime
    from adaseg.report.tables import write_table
    rows = {"adaptseg": write_eval(tmp_path / "w.json", 20.0), "random": write_eval(tmp_path / "r.json", 15.0),
            "fully_supervised": write_eval(tmp_path / "f.json", 20.0)}
    df = write_table("table1_gta", rows, tmp_path / "t", SCALE)
    where = regime(df, ["road"])
    assert where.recovered is None and not where.in_regime()
    assert "there is no gap to recover" in (tmp_path / "t.md").read_text()
    assert json.loads((tmp_path / "t.metrics.json").read_text())["regime"]["recovered"] is None


def test_a_class_absent_from_an_evaluation_is_left_out_of_its_mean(tmp_path):
    """Evaluation files give None for a class without pixels in the split: the class mean is over
    the seeds that have it, and '-' when none has."""
    scale = Scale(budget="5", rounds=5, budgets=(), anchors=(), seeds=(0, 1))
    evs = {}
    for s, car in ((0, 10.0), (1, None)):
        path = tmp_path / f"r{s}.json"
        path.write_text(json.dumps({"miou": 20.0 + s, "classes": ["road", "car", "bus"],
                                    "iou": {"road": 20.0 + s, "car": car, "bus": None}}))
        evs[s] = str(path)
    df, _, _ = build_table("table1_gta", {"random": evs}, scale, {"random": evs})
    row = df[df["values"] != "published"].iloc[0]
    assert row["road"] == pytest.approx(20.5) and row["car"] == pytest.approx(10.0) and pd.isna(row["bus"])


def test_the_fidelity_table_compares_each_departure_with_the_official_defaults(tmp_path):
    """table_fidelity_gta: RIPU RA with the official defaults 40, 41, 45 and with joint batch norm 38,
    40, 42: differences -2, -1, -3 (mean -2, sd 1): -2 ± t(0.975, 2) / sqrt(3) = -2 ± 2.484, not
    significant; the columns say 'official', not 'random'."""
    from adaseg.registry import TABLES
    from adaseg.report.tables import write_table
    scale = Scale(budget="5", rounds=2, budgets=(), anchors=(), seeds=(0, 1, 2))
    t = TABLES["table_fidelity_gta"]
    refs = t.references(scale)
    assert refs["ripu_ra_bn_joint"] == refs["ripu_ra"] == [
        (s, f"eval/finetune/s{s}/ripu_ra/5/ripu/round2of2.json") for s in (0, 1, 2)]
    assert refs["mada_stage1_kmeans"][0] == (0, "eval/finetune/s0/mada/5/stage1/round1of1.json")   # a strategy variant
    assert t.runs_at(scale)["mada_stage1_kmeans"] == "finetune/s{seed}/mada+fid_kmeans_sklearn/5/stage1/round1of1"
    official = _three_seeds(tmp_path, "official", (40.0, 41.0, 45.0))
    rows = {"ripu_ra": official, "ripu_ra_bn_joint": _three_seeds(tmp_path, "joint", (38.0, 40.0, 42.0))}
    df = write_table("table_fidelity_gta", rows, tmp_path / "f", scale, {k: official for k in rows})
    rep = df[df["values"] != "published"].set_index("row")
    assert rep.loc["ripu_ra_bn_joint", "Δ vs random"] == pytest.approx(-2.0)       # the frame's key
    assert rep.loc["ripu_ra_bn_joint", "Δ low"] == pytest.approx(-2 - 2.48413771, abs=1e-6)
    md = (tmp_path / "f.md").read_text()
    assert "Δ vs official (95% CI)" in md and "official reference" in md and "Δ vs random" not in md
    assert "-2.0 [-4.5, +0.5] n.s." in md and "official defaults: ripu_ra 5%, round 2 of 2, ripu" in md
    assert "Regime:" not in md
    csv = pd.read_csv(tmp_path / "f.csv")
    assert "Δ vs official" in csv.columns and "Δ vs random" not in csv.columns
    metrics = json.loads((tmp_path / "f.metrics.json").read_text())
    assert metrics["ripu_ra_bn_joint"]["delta_vs_official"] == pytest.approx(-2.0)


def test_a_table_refuses_evaluations_of_different_label_spaces_or_targets(tmp_path):
    """A 16-class SYNTHIA evaluation beside a 19-class one, or an evaluation of another target left in
    the results folder, is refused naming both files; evaluations that agree make a table."""
    from adaseg.errors import InputFileError

    def ev(name, **what):
        path = write_eval(tmp_path / f"{name}.json", 40.0)
        d = json.loads(open(path).read())
        d.update({"label_space": "cityscapes19", "dataset": "cityscapes", "split": "val"}, **what)
        (tmp_path / f"{name}.json").write_text(json.dumps(d))
        return path

    same = {"ripu_tau_0p02": ev("a"), "ripu_tau_0p2": ev("b")}
    assert len(build_table("ripu_table7", same, SCALE)[0]) >= 2
    with pytest.raises(InputFileError, match=r"ripu_table7: evaluation '.*c\.json' has label_space 'cityscapes16' but '.*a\.json'"):
        build_table("ripu_table7", {"ripu_tau_0p02": same["ripu_tau_0p02"], "ripu_tau_0p2": ev("c", label_space="cityscapes16")}, SCALE)
    with pytest.raises(InputFileError, match="has dataset 'gta5'"):
        build_table("ripu_table7", {"ripu_tau_0p02": same["ripu_tau_0p02"], "ripu_tau_0p2": ev("d", dataset="gta5")}, SCALE)
