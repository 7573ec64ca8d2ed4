"""Figure helpers, sweep variants and sweep tables, each against a hand-computed case."""
import json

import numpy as np
import pandas as pd
import pytest

from adaseg.ablations import resolve_variant, sweep_token, sweep_variant
from adaseg.data.labels import IGNORE
from adaseg.report.figures import (CITYSCAPES_PALETTE, colourize, curve_points, labelled_class_fractions,
                                   overlay_mask, plot_curves)
from adaseg.registry import Scale
from adaseg.report.tables import build_table

SCALE = Scale(budget="5", rounds=5, budgets=("2",), anchors=(1,))


def test_sweep_variants_round_trip():
    assert sweep_token(0.05) == "0p05" and sweep_token(10) == "10" and sweep_token(1.0) == "1"
    assert sweep_variant("ripu_tau", 0.05) == "ripu_tau_0p05"
    assert resolve_variant({}, "ripu_tau_0p05") == {"ripu": {"negative_tau": 0.05}}
    assert resolve_variant({}, "src_anchors_20") == {"mada": {"source_anchors": 20}}
    assert resolve_variant({}, "d2ada_alpha_0") == {"d2ada": {"alpha": 0.0}}
    # not a sweep point: unknown sweep, a value that does not parse, a non-canonical spelling
    for name in ("nope_3", "src_anchors_x", "src_anchors_2p5", "ripu_tau_0p050"):
        assert resolve_variant({}, name) is None, name
    assert resolve_variant({"variants": {"mine": {"mada": {"ema": False}}}}, "mine") == {"mada": {"ema": False}}


def test_sweep_variant_applies_to_config(tiny):
    from adaseg.config import apply_variant, validate_config

    cfg = validate_config(tiny)
    out = apply_variant(cfg, ["src_anchors_7", "ripu_alpha2_1p5"])
    assert out["mada"]["source_anchors"] == 7 and out["ripu"]["negative_weight"] == 1.5
    assert cfg["mada"]["source_anchors"] == 3  # the base config is not modified
    with pytest.raises(ValueError, match="unknown variant"):
        apply_variant(cfg, "src_anchors_x")


def test_labelled_class_fraction_hand_computed():
    labels = {"a": np.array([[0, 0, 1], [2, IGNORE, 1]]), "b": np.array([[1, 1, 1], [0, 0, 0]])}
    masks = {"a": np.array([[1, 0, 1], [1, 1, 0]], bool), "b": np.array([[1, 1, 0], [0, 0, 0]], bool)}
    # labelled, not ignored: a -> 0, 1, 2 ; b -> 1, 1  => counts 1, 3, 1 of 5
    frac = labelled_class_fractions(labels.__getitem__, ["a", "b"], {"s": masks.get, "none": {}.get}, 3)
    assert frac["s"].tolist() == pytest.approx([0.2, 0.6, 0.2])
    assert frac["none"].tolist() == [0, 0, 0]
    # True = the whole image: a -> 0, 0, 1, 2, 1 (ignored pixel skipped) ; b -> 1, 1, 1, 0, 0, 0
    whole = labelled_class_fractions(labels.__getitem__, ["a", "b"], {"all": lambda i: True}, 3)["all"]
    assert whole.tolist() == pytest.approx([5 / 11, 5 / 11, 1 / 11])
    read = []
    labelled_class_fractions(lambda i: read.append(i) or labels[i], ["a", "b"],
                             {"s": masks.get, "all": lambda i: True}, 3)
    assert read == ["a", "b"]  # each label read once, whatever the number of selections


def test_colourize_and_overlay():
    lab = np.array([[0, 13], [IGNORE, 18]])
    rgb = colourize(lab)
    assert rgb[0, 0].tolist() == [128, 64, 128] and rgb[0, 1].tolist() == [0, 0, 142]
    assert rgb[1, 0].tolist() == [0, 0, 0] and rgb[1, 1].tolist() == CITYSCAPES_PALETTE[18].tolist()
    # SYNTHIA's 16 classes keep the colour of the same Cityscapes class (16-class id 9 = sky)
    assert colourize(np.array([[9]]), "synthia16")[0, 0].tolist() == [70, 130, 180]
    img = np.full((1, 2, 3), 100, np.uint8)
    out = overlay_mask(img, np.array([[1, 0]]), colour=(200, 0, 0), alpha=0.5)
    assert out[0, 0].tolist() == [150, 50, 50] and out[0, 1].tolist() == [55, 55, 55]


def _eval(path, miou, miou13=None):
    d = {"miou": miou, "classes": ["road"], "iou": {"road": miou}}
    if miou13 is not None:
        d["miou13"] = miou13
    path.write_text(json.dumps(d))
    return str(path)


def test_curves_from_evaluation_files(tmp_path):
    pts = [("b", 2, _eval(tmp_path / "1.json", 30.0)), ("a", 5, _eval(tmp_path / "2.json", 40.0)),
           ("a", 1, _eval(tmp_path / "3.json", 20.0))]
    df = curve_points(pts)
    assert df[["series", "x", "mIoU"]].values.tolist() == [["a", 1.0, 20.0], ["a", 5.0, 40.0], ["b", 2.0, 30.0]]
    pub = pd.DataFrame([{"series": "a", "x": 1.0, "mIoU": 50.0, "source": "paper"}])
    plot_curves(df, tmp_path / "fig", "t", "x", published=pub)
    out = pd.read_csv(tmp_path / "fig.csv")
    assert out["values"].tolist() == ["reproduced (adaseg)"] * 3 + ["published"]
    wide = pd.read_csv(tmp_path / "fig.wide.csv")  # only the series with the most points
    assert list(wide.columns) == ["x", "a"] and wide["a"].tolist() == [20.0, 40.0]
    assert (tmp_path / "fig.png").stat().st_size > 0 and (tmp_path / "fig.svg").stat().st_size > 0


def test_sweep_table_rows_follow_the_evaluations(tmp_path):
    evals = {"ripu_tau_0p02": _eval(tmp_path / "a.json", 10.0), "ripu_tau_0p2": _eval(tmp_path / "b.json", 11.0)}
    df, title, note = build_table("ripu_table7", evals, SCALE)
    assert df["row"].tolist() == ["ripu_tau_0p02", "ripu_tau_0p2"]
    assert df["method"].tolist() == ["tau = 0.02", "tau = 0.2"]
    assert df["published mIoU"].tolist() == [69.54, 68.13]
    assert df["published in"].str.contains("RIPU").all() and "Table 7" in df["published in"].iloc[0]
    df, title, _ = build_table("mada_table5", {"b2": _eval(tmp_path / "c.json", 9.0),
                                               "b100": _eval(tmp_path / "d.json", 12.0)}, SCALE)
    assert df["published mIoU"].tolist() == [59.1, 69.3]
    assert df["method"].iloc[1].startswith("100%")


def test_synthia_table_reads_synthia_published_values(tmp_path):
    evals = {k: _eval(tmp_path / f"{k}.json", 30.0, 33.0) for k in ("ripu_ra_2p2", "ripu_ra", "random")}
    df, _, _ = build_table("table1_synthia", evals, SCALE)
    rep = df[df["values"] == "reproduced (adaseg)"].set_index("row")
    assert rep.loc["ripu_ra_2p2", "published mIoU"] == 70.1 and rep.loc["ripu_ra_2p2", "published mIoU13"] == 75.7
    assert rep.loc["ripu_ra", "published mIoU"] == 71.4
    assert rep.loc["random", "published in"] == ""          # no SYNTHIA number printed for it
    assert rep["mIoU13"].tolist() == [33.0, 33.0, 33.0]


def test_per_paper_tables_read_their_published_values(tmp_path):
    ev = {k: _eval(tmp_path / f"{k}.json", 20.0, 25.0) for k in ("adaptseg", "aada", "mada_full")}
    df, _, _ = build_table("mada_table2", ev, SCALE)              # SYNTHIA: 16-class mIoU and mIoU*
    assert df.loc[df["row"] == "aada", "published mIoU"].tolist() == [61.9]
    assert df.loc[df["row"] == "aada", "published mIoU13"].tolist() == [66.2]
    df, _, _ = build_table("mada_table1", {"aada": _eval(tmp_path / "g.json", 20.0)}, SCALE)
    assert df.loc[(df["row"] == "aada") & (df["values"] != "published"), "published mIoU"].tolist() == [59.3]


def test_synthia_budget_table_has_only_the_13_class_published_value(tmp_path):
    df, _, _ = build_table("mcu_table2", {"b1.7": _eval(tmp_path / "m.json", 20.0, 22.0)}, SCALE)
    row = df.iloc[0]
    assert row["method"] == "ADA-MCU, 1.7% of the target pixels" and row["published mIoU13"] == 66.2
    assert pd.isna(row["published mIoU"]) and "Table II" in row["published in"]
