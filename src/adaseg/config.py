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


def apply_variant(cfg: dict, name: str | list[str] | None) -> dict:
    """The config with one or more variants (adaseg.ablations: named variants, config `variants`,
    sweep points) merged over it in order, validated again."""
    from .ablations import all_variants, resolve_variant

    names = [name] if isinstance(name, str) else list(name or [])
    for n in names:
        overrides = resolve_variant(cfg, n)
        if overrides is None:
            raise ValueError(f"unknown variant '{n}' (known: {', '.join(sorted(all_variants(cfg)))}, "
                             f"or a sweep point <sweep>_<value>, see adaseg.ablations.SWEEPS)")
        cfg = validate_config(deep_merge(cfg, overrides))
    return cfg


def load_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file '{path}' not found")
    text = path.read_text()
    cfg = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return validate_config(cfg)
