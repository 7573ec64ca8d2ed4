import os
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def tiny_config(tmp_path: Path, **overrides) -> dict:
    """The tiny config with every path under tmp_path."""
    cfg = yaml.safe_load((ROOT / "tests" / "tiny.yaml").read_text())
    cfg["results"] = str(tmp_path / "results")
    cfg["proxy"]["dir"] = str(tmp_path / "proxy")
    for name, d in cfg["datasets"].items():
        d["root"] = str(tmp_path / "proxy" / name)
    for k, v in overrides.items():
        cfg[k] = v
    return cfg


def write_config(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def cli_env() -> dict:
    """Environment in which `adaseg` and `snakemake` resolve to this interpreter's install."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def tiny(tmp_path):
    return tiny_config(tmp_path)
