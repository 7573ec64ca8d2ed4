"""adaseg.train.warmup: a SYNTHIA source-only warm-up is 16-class; its evaluation reports mIoU and mIoU*."""
import pytest

from adaseg.config import for_seed, validate_config
from adaseg.data.synth import generate
from adaseg.evaluate import evaluate
from adaseg.models.checkpoint import load_model
from adaseg.train.warmup import train_warmup
from conftest import tiny_config


@pytest.mark.slow
def test_synthia_source_only_to_cityscapes(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg["datasets"]["synthia"] = {"kind": "synthia", "root": str(tmp_path / "proxy" / "synthia"), "proxy": True}
    cfg["warmup"]["iterations"] = 2
    cfg = for_seed(validate_config(cfg), None)
    p = cfg["proxy"]
    for name in ("synthia", "cityscapes"):
        generate(cfg["datasets"][name]["root"], name, p["seed"], p["height"], p["width"], p["counts"])
    ckpt = tmp_path / "synthia_source_only.pt"
    train_warmup(cfg, "source_only", "synthia", "cityscapes", str(ckpt), threads=1)
    model, meta = load_model(ckpt)
    assert meta["label_space"] == "synthia16" and model.classifier.out_channels == 16
    res = evaluate(cfg, str(ckpt), "cityscapes", str(tmp_path / "eval.json"), threads=1)
    assert len(res["classes"]) == 16 and "terrain" not in res["classes"]
    assert 0 <= res["miou"] <= 100 and 0 <= res["miou13"] <= 100
