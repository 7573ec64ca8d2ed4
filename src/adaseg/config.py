"""Loading and validating the pipeline configuration against its JSON schema."""
from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(str(resources.files("adaseg") / "config.schema.json"))


def _with_defaults(validator_class):
    validate_props = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, sub["default"])
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def validate_config(cfg: dict) -> dict:
    """Validate in place (filling schema defaults); raise a readable error naming the bad key."""
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'.'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}" for e in errors[:10]]
        raise ValueError("invalid configuration:\n" + "\n".join(lines))
    if cfg["target"] not in cfg["datasets"]:
        raise ValueError(f"invalid configuration: target '{cfg['target']}' is not in datasets")
    return cfg


def deep_merge(base: dict, overrides: dict) -> dict:
    """A copy of `base` with `overrides` merged in, nested dicts key by key."""
    out = copy.deepcopy(base)
    for k, v in overrides.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def apply_variant(cfg: dict, name: str | None) -> dict:
    """The config of an ablation variant (adaseg.ablations, or config `variants`) merged over cfg,
    validated again."""
    from .ablations import all_variants

    if not name:
        return cfg
    variants = all_variants(cfg)
    if name not in variants:
        raise ValueError(f"unknown variant '{name}' (known: {', '.join(sorted(variants))})")
    return validate_config(deep_merge(cfg, variants[name]))


def load_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file '{path}' not found")
    text = path.read_text()
    cfg = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return validate_config(cfg)
