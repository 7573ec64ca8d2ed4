"""adaseg.report.tables: sweep, SYNTHIA and per-paper tables read their rows and their published values."""

import pandas as pd

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
    df, _, _ = build_table("table1_synthia", evals, SCALE)
    rep = df[df["values"] == "reproduced (adaseg)"].set_index("row")
    assert rep.loc["ripu_ra_2p2", "published mIoU"] == 70.1 and rep.loc["ripu_ra_2p2", "published mIoU13"] == 75.7
    assert rep.loc["ripu_ra", "published mIoU"] == 71.4
    assert rep.loc["random", "published in"] == ""          # no SYNTHIA number printed for it
    assert rep["mIoU13"].tolist() == [33.0, 33.0, 33.0]


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
