"""adaseg.config: shipped configs validate, bad values fail with the key named, ablation and sweep variants apply."""
import copy

import pytest
import yaml

from adaseg.config import load_config, validate_config
from conftest import ROOT


def test_shipped_configs_validate():
    for path in [ROOT / "config.yaml", *sorted((ROOT / "configs").glob("*.yaml"))]:
        cfg = load_config(path)
        assert cfg["threads"] >= 1


def test_bad_values_are_named():
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    bad = copy.deepcopy(cfg)
    bad["model"]["backbone"] = "vgg16"
    with pytest.raises(ValueError, match="model.backbone"):
        validate_config(bad)
    bad = copy.deepcopy(cfg)
    bad["mada"]["budget"] = 150
    with pytest.raises(ValueError, match="mada.budget"):
        validate_config(bad)
    bad = copy.deepcopy(cfg)
    bad["target"] = "mapillary"
    with pytest.raises(ValueError, match="target 'mapillary'"):
        validate_config(bad)


def test_every_paper_ablation_variant_is_a_valid_config():
    """Each ablation row of the papers (adaseg.ablations) merges over the default config and validates;
    unknown variants and invalid overrides fail with a message."""
    from adaseg.ablations import PAPER_VARIANTS
    from adaseg.config import apply_variant, load_config

    base = load_config(ROOT / "config.yaml")
    for name, overrides in PAPER_VARIANTS.items():
        cfg = apply_variant(base, name)
        for section, values in overrides.items():
            for key, value in values.items():
                assert cfg[section][key] == value, (name, section, key)
    assert apply_variant(base, "madav2_M3")["madav2"]["ohem"] is True       # untouched keys stay
    assert base["madav2"]["acm"] is True                                     # the base is not modified
    with pytest.raises(ValueError, match="unknown variant"):
        apply_variant(base, "nope")
    bad = dict(base, variants={"bad": {"ripu": {"negative_weight": -1}}})
    with pytest.raises(ValueError, match="negative_weight"):
        apply_variant(bad, "bad")


def test_sweep_variant_applies_to_config(tiny):
    from adaseg.config import apply_variant, validate_config

    cfg = validate_config(tiny)
    out = apply_variant(cfg, ["src_anchors_7", "ripu_alpha2_1p5"])
    assert out["mada"]["source_anchors"] == 7 and out["ripu"]["negative_weight"] == 1.5
    assert cfg["mada"]["source_anchors"] == 3  # the base config is not modified
    with pytest.raises(ValueError, match="unknown variant"):
        apply_variant(cfg, "src_anchors_x")
