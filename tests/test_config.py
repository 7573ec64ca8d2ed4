"""Configuration validation: the default and paper configs pass; bad values fail with the key named."""
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
