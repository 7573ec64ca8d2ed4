"""R1-R5 of the papers' regime (src/adaseg/report/regime.py) on hand-made evaluations."""
import json

import pytest

from adaseg.report.regime import REGIME_ROWS, paper_regime, write_regime

CLASSES = [f"c{i}" for i in range(19)]


def _ev(miou, low_classes=0):
    """An evaluation dict: every class at `miou` except `low_classes` at 5."""
    iou = {c: (5.0 if i < low_classes else miou) for i, c in enumerate(CLASSES)}
    return {"miou": miou, "iou": iou, "classes": CLASSES}


def _evals(**over):
    base = {"adaptseg": 18.0, "fully_supervised": 30.0, "random": 24.0, "oracle_loss": 28.0, "oracle_balanced": 26.0,
            "random_squares": 25.0, "oracle_squares": 24.0, "oracle_squares_balanced": 29.0,
            "random_superpixels": 24.5, "oracle_superpixels": 28.0, "oracle_superpixels_balanced": 27.0}
    base.update(over)
    # three seeds, paired noise +-0.2 that every row shares (so differences are exact)
    return {k: {s: _ev(v + d) for s, d in zip((0, 1, 2), (-0.2, 0.0, 0.2))} for k, v in base.items()}


def test_every_criterion_by_hand():
    r = paper_regime(_evals(), {0: 18, 1: 17, 2: 19}, 19)
    assert r["R1"]["value"] == pytest.approx(18 / 30) and r["R1"]["passed"]
    assert r["R2"]["value"] == pytest.approx((24 - 18) / (30 - 18)) and r["R2"]["passed"]
    assert r["R3"]["value"] == {"square": pytest.approx(1.0), "superpixel": pytest.approx(0.5)} and r["R3"]["passed"]
    assert r["R4"]["value"] == {"warmup_predicted_classes": 17, "full_classes_iou_at_least_10": 19}
    assert r["R4"]["passed"]
    units = r["R5"]["units"]
    assert units["image"]["best"] == "oracle_loss" and units["image"]["difference"]["mean"] == pytest.approx(4.0)
    assert units["square"]["best"] == "oracle_squares_balanced"
    assert units["superpixel"]["difference"]["mean"] == pytest.approx(3.5)
    assert r["R5"]["passed"] and r["all_passed"]


def test_each_criterion_fails_on_its_own():
    assert not paper_regime(_evals(adaptseg=10.0), {0: 19}, 19)["R1"]["passed"]           # 0.33 of full
    assert not paper_regime(_evals(random=29.0), {0: 19}, 19)["R2"]["passed"]             # recovers 92%
    assert not paper_regime(_evals(random_superpixels=23.0), {0: 19}, 19)["R3"]["passed"]  # below random images
    assert not paper_regime(_evals(), {0: 19, 1: 16}, 19)["R4"]["passed"]                  # a warm-up predicts 16
    ev = _evals()
    ev["fully_supervised"] = {s: _ev(30.0, low_classes=3) for s in (0, 1, 2)}              # 16 classes >= 10
    assert not paper_regime(ev, {0: 19}, 19)["R4"]["passed"]
    r5 = paper_regime(_evals(oracle_squares_balanced=26.0), {0: 19}, 19)["R5"]             # best square +1.0
    assert not r5["units"]["square"]["passed"] and r5["units"]["image"]["passed"] and not r5["passed"]


def test_one_seed_has_no_interval_so_r5_cannot_pass():
    ev = {k: {0: v[0]} for k, v in _evals().items()}
    r = paper_regime(ev, {0: 19}, 19)
    assert r["R1"]["passed"] and not r["R5"]["passed"]


def test_missing_rows_are_named():
    ev = _evals()
    del ev["oracle_squares"]
    with pytest.raises(ValueError, match="oracle_squares"):
        paper_regime(ev, {0: 19}, 19)


def test_written_json_and_markdown(tmp_path):
    import h5py
    import numpy as np

    evals = {}
    for k, runs in _evals().items():
        evals[k] = {}
        for s, e in runs.items():
            p = tmp_path / f"{k}_{s}.json"
            p.write_text(json.dumps(e))
            evals[k][s] = str(p)
    dump = tmp_path / "target.h5"
    with h5py.File(dump, "w") as h5:
        h5["ids"] = np.array([b"a", b"b"])
        counts = np.zeros((2, 19), np.int32)
        counts[0, :10] = 5
        counts[1, 5:17] = 1
        h5["counts"] = counts                    # 17 classes predicted somewhere in the pool
    out = write_regime(evals, {0: str(dump), 1: str(dump), 2: str(dump)}, tmp_path / "regime")
    saved = json.loads((tmp_path / "regime.json").read_text())
    assert saved["R4"]["value"]["warmup_predicted_classes"] == 17 and saved["all_passed"] == out["all_passed"]
    assert set(saved["sources"]) == set(REGIME_ROWS)
    md = (tmp_path / "regime.md").read_text()
    assert "| R5 |" in md and "All passed: yes" in md
    assert "warmup_predicted_classes: 17" in md and md.startswith("# Proxy regime")
