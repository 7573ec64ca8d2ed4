"""adaseg.report.figures: labelled class fractions, colours and overlays, curves from evaluations, by hand."""

import numpy as np
import pandas as pd
import pytest

from adaseg.data.labels import IGNORE
from adaseg.report.figures import (CITYSCAPES_PALETTE, colourize, curve_points, labelled_class_fractions,
                                   overlay_mask, plot_curves)
from conftest import write_eval


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


def test_curves_from_evaluation_files(tmp_path):
    pts = [("b", 2, write_eval(tmp_path / "1.json", 30.0)), ("a", 5, write_eval(tmp_path / "2.json", 40.0)),
           ("a", 1, write_eval(tmp_path / "3.json", 20.0))]
    df = curve_points(pts)
    assert df[["series", "x", "mIoU"]].values.tolist() == [["a", 1.0, 20.0], ["a", 5.0, 40.0], ["b", 2.0, 30.0]]
    pub = pd.DataFrame([{"series": "a", "x": 1.0, "mIoU": 50.0, "source": "paper"}])
    plot_curves(df, tmp_path / "fig", "t", "x", published=pub)
    out = pd.read_csv(tmp_path / "fig.csv")
    assert out["values"].tolist() == ["reproduced (adaseg)"] * 3 + ["published"]
    wide = pd.read_csv(tmp_path / "fig.wide.csv")  # only the series with the most points
    assert list(wide.columns) == ["x", "a"] and wide["a"].tolist() == [20.0, 40.0]
    assert (tmp_path / "fig.png").stat().st_size > 0 and (tmp_path / "fig.svg").stat().st_size > 0


def test_curve_points_over_seeds_are_means_with_a_std_band(tmp_path):
    """A point given once per seed is drawn at the mean, with one standard deviation as a band."""
    pts = [("a", 1, write_eval(tmp_path / f"a1_{s}.json", m)) for s, m in enumerate((20.0, 22.0, 24.0))]
    pts += [("a", 5, write_eval(tmp_path / f"a5_{s}.json", m)) for s, m in enumerate((40.0, 40.0, 43.0))]
    pts += [("full", 100, write_eval(tmp_path / "full.json", 50.0))]
    df = curve_points(pts)
    a = df[df["series"] == "a"]
    assert a["mIoU"].tolist() == pytest.approx([22.0, 41.0]) and a["mIoU std"].tolist() == pytest.approx([2.0, 3 ** 0.5])
    assert a["n"].tolist() == [3, 3] and a["source"].iloc[0].count(";") == 2
    assert df.loc[df["series"] == "full", "mIoU std"].isna().all()
    plot_curves(df, tmp_path / "fig", "t", "x")
    svg = (tmp_path / "fig.svg").read_text()
    assert svg.count('id="FillBetweenPolyCollection_') + svg.count('id="PolyCollection_') == 1  # one band: series a
    out = pd.read_csv(tmp_path / "fig.csv")
    assert out["mIoU std"].iloc[0] == pytest.approx(2.0)


def test_training_curves_figure_from_curve_files(tmp_path):
    from adaseg.report.figures import make_figure

    r1, r2, w = tmp_path / "round1of2.curve.csv", tmp_path / "round2of2.curve.csv", tmp_path / "warmup.curve.csv"
    r1.write_text("iteration,lr,ce_src,neg\n1,0.01,2.0,0.5\n2,0.009,1.8,0.4\n")
    r2.write_text("iteration,lr,ce_src,neg\n3,0.008,1.6,0.3\n4,0.007,1.4,\n")
    w.write_text("iteration,lr,lr_disc_optimizer,ce_src,adv,disc\n1,0.01,0.0001,3.0,0.7,0.69\n")
    prefix = tmp_path / "fig" / "training_curves"
    make_figure({"figures": {}}, "training_curves", [("RIPU|round 1", str(r1)), ("RIPU|round 2", str(r2)), ("warm-up", str(w))], prefix)
    data = pd.read_csv(prefix.with_suffix(".csv"))
    ripu = data[(data["run"] == "RIPU") & (data["quantity"] == "ce_src")]
    assert list(ripu["iteration"]) == [1, 2, 3, 4] and list(ripu["value"]) == [2.0, 1.8, 1.6, 1.4]
    assert len(data[(data["run"] == "RIPU") & (data["quantity"] == "neg")]) == 3   # the empty cell is no point
    assert set(data[data["run"] == "warm-up"]["quantity"]) == {"lr", "lr_disc_optimizer", "ce_src", "adv", "disc"}
    assert prefix.with_suffix(".png").stat().st_size > 0 and prefix.with_suffix(".svg").is_file()
