"""Loading and validating the pipeline configuration against its JSON schema.

The schema (config.schema.json, also read by the Snakefile's `validate`) is strict: every section
refuses keys it does not define, so a misspelled key fails instead of silently leaving its default
in place. A bad config raises adaseg.errors.ConfigError, one line naming the file, the key path
(`train.aux_wieght`) and the fix (`did you mean 'aux_weight'?`). Variants (config `variants`, the
built-in ablations and sweep points of adaseg.ablations) are checked key by key against the same
schema before they are merged (`check_overrides`), then the merged config is validated again.
"""
from __future__ import annotations

import copy
import difflib
import functools
import json
import math
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from .errors import ConfigError

SCHEMA_PATH = Path(str(resources.files("adaseg") / "config.schema.json"))
# Snakemake runs a config file holding this top-level key as a YTE template (Python expressions)
YTE_KEY = "__use_yte__"


@functools.lru_cache(maxsize=None)
def schema() -> dict:
    """The config schema (one parsed copy per process: do not modify it)."""
    return json.loads(SCHEMA_PATH.read_text())


def _with_defaults(validator_class):
    validate_props = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(name, sub["default"])
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


@functools.lru_cache(maxsize=None)
def _config_validator():
    return _with_defaults(jsonschema.Draft202012Validator)(schema())


def _partial(node, under_if: bool = False):
    """A copy of a schema node without `required` (outside `if` conditions) and `default`: the
    schema of a set of overrides, where every key is checked but none is needed or filled in."""
    if isinstance(node, list):
        return [_partial(v, under_if) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == "default" or (k == "required" and not under_if):
            continue
        if k == "properties" and isinstance(v, dict):  # keys here are config keys, not keywords
            out[k] = {name: _partial(sub, under_if) for name, sub in v.items()}
        else:
            out[k] = _partial(v, under_if or k == "if")
    return out


@functools.lru_cache(maxsize=None)
def _overrides_validator():
    partial = _partial(schema())
    partial["properties"].pop("variants")  # a variant cannot define variants
    return jsonschema.Draft202012Validator(partial)


def _key(path) -> str:
    return ".".join(map(str, path)) or "<top level>"


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unknown_key(path, key, allowed) -> str:
    guess = difflib.get_close_matches(str(key), [str(a) for a in allowed], n=1)
    hint = f"did you mean '{guess[0]}'?" if guess else f"{_key(path) if path else 'the top level'} takes: {', '.join(map(str, allowed))}"
    return f"{_key([*path, key])}: unknown key ({hint}); correct its spelling or remove it"


def _describe(e: jsonschema.ValidationError, prefix=()) -> str:
    """One line for a schema error: the key path, the problem, the fix."""
    path = [*prefix, *e.absolute_path]
    defs = schema()["$defs"]
    if e.validator == "additionalProperties" and isinstance(e.instance, dict):
        allowed = list(e.schema.get("properties", {}))
        extra = [k for k in e.instance if k not in allowed]
        line = _unknown_key(path, extra[0], allowed)
        return line + (f" (also unknown: {', '.join(map(str, extra[1:]))})" if len(extra) > 1 else "")
    if "propertyNames" in e.relative_schema_path or "propertyNames" in e.schema_path:
        if e.validator == "enum":  # a variant's top-level key
            return _unknown_key(path, e.instance, e.schema["enum"])
        what = {"variants": "variant name", "datasets": "dataset name"}.get(str(path[-1]) if path else "", "name")
        chars = "letters, digits and _" if what == "variant name" else "letters, digits and _ . + - (first a letter or digit)"
        return (f"{_key(path)}: {what} {_short(e.instance)} is not allowed: names become file names and "
                f"command-line arguments, so use {chars} only; rename it")
    if e.validator == "required":
        missing = [k for k in e.validator_value if not isinstance(e.instance, dict) or k not in e.instance]
        return f"{_key([*path, missing[0] if missing else '?'])}: missing; this key is required (see config.yaml for an example)"
    if e.validator == "const" and path[-2:] == ["evaluation", "allow_train"]:
        return ("evaluation.split: 'train' scores the model on the target images it was adapted on (not a "
                "held-out result); set evaluation.split: val, or evaluation.allow_train: true to do it knowingly")
    if e.schema == defs["path"] or (e.validator == "not" and e.schema.get("not") == defs["path"]["not"]):
        if e.validator == "minLength":
            return f"{_key(path)}: an empty path; give a file or folder path"
        if e.validator == "not":
            return (f"{_key(path)}: the path {_short(e.instance)} holds a newline, carriage return or NUL "
                    f"character, which no command line carries safely; rename the folder")
    if e.schema == defs["name"] and e.validator in ("pattern", "not"):
        return (f"{_key(path)}: {_short(e.instance)} is not a valid name: names become file names and "
                f"command-line arguments, so use letters, digits and _ . + - only (first a letter or digit); rename it")
    message = e.message
    if e.context:  # oneOf / anyOf: the closest alternative's complaint
        message += f" ({jsonschema.exceptions.best_match(e.context).message})"
    message = " ".join(message.split())
    if len(message) > 240:
        message = message[:237] + "..."
    return f"{_key(path)}: {message}; fix the value (see the schema src/adaseg/config.schema.json)"


def _error_key(e: jsonschema.ValidationError, prefix=()) -> str:
    """The key path an error is about (an unknown key's own path, not its section's)."""
    path = [*prefix, *e.absolute_path]
    if e.validator == "additionalProperties" and isinstance(e.instance, dict):
        extra = [k for k in e.instance if k not in e.schema.get("properties", {})]
        path += extra[:1]
    return _key(path)


def _raise(errors, where: str, prefix=()) -> None:
    if not errors:
        return
    errors = sorted(errors, key=lambda e: [str(p) for p in e.absolute_path])
    more = ""
    others = sorted({_error_key(e, prefix) for e in errors[1:]} - {_error_key(errors[0], prefix)})
    if others:
        more = f" (and problems at {', '.join(others[:5])}{', ...' if len(others) > 5 else ''})"
    raise ConfigError(f"{where}{_describe(errors[0], prefix)}{more}")


def _where(source) -> str:
    return f"config '{source}': " if source else "config: "


def validate_config(cfg: dict, source: str | Path | None = None) -> dict:
    """Validate in place (filling schema defaults) and return `cfg`; a ConfigError (one line naming
    `source`, the config file, and the key) for the first problem. Variants in `variants` are checked
    against the schema too."""
    return _validate(cfg, _where(source), source)


def _validate(cfg, where: str, source=None) -> dict:
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}the top level must be a mapping of sections (seeds, results, datasets, ...), "
                          f"not {type(cfg).__name__}")
    if "seed" in cfg and "seeds" not in cfg:
        raise ConfigError(f"{where}seed: the config takes a list of seeds now; write seeds: [{cfg['seed']}] "
                          "(each seed is a path level s<seed> of every selection, fine-tuning and evaluation)")
    _refuse_non_finite(cfg, [], where)
    _raise(list(_config_validator().iter_errors(cfg)), where)
    if cfg["target"] not in cfg["datasets"]:
        raise ConfigError(f"{where}target: target '{cfg['target']}' is not in datasets "
                          f"({', '.join(cfg['datasets'])}); set target to one of them or add it to datasets")
    for name, d in cfg["datasets"].items():
        if d.get("labels") == "none" and d.get("cache"):
            raise ConfigError(f"{where}datasets.{name}: cache: true stores label files, and labels: none says there are "
                              "none; set cache: false for an unlabelled pool")
    if cfg["datasets"][cfg["target"]].get("labels") == "none" and cfg.get("oracle") != "labelstudio":
        raise ConfigError(f"{where}datasets.{cfg['target']}.labels: none (an unlabelled target pool) needs annotators: "
                          f"set oracle: labelstudio (oracle: {cfg.get('oracle')} reads the target's label files)")
    for name, overrides in (cfg.get("variants") or {}).items():
        check_overrides(name, overrides, source, in_config=True)
    return cfg


def _refuse_non_finite(value, path: list, where: str) -> None:
    """NaN and infinity (YAML .nan, .inf) pass a JSON schema's number bounds; no config number may be
    one (a learning rate of .nan trains a model of NaN weights)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_non_finite(v, [*path, k], where)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_non_finite(v, [*path, i], where)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}{_key(path)}: {value} is not a finite number; give a finite value")


def check_overrides(name: str, overrides, source: str | Path | None = None, in_config: bool = False) -> dict:
    """Check a variant's overrides against the schema before they are merged: every key must be a
    config key (none is required) and every value valid; a ConfigError naming the variant and the key."""
    prefix = ["variants", name] if in_config else []
    where = _where(source) if in_config else f"variant '{name}' (src/adaseg/ablations.py or config variants): "
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}{_key(prefix) or 'overrides'}: a variant is a mapping of config sections to "
                          f"the values it changes, not {type(overrides).__name__}")
    if "variants" in overrides:
        raise ConfigError(f"{where}{_key([*prefix, 'variants'])}: a variant cannot define variants; "
                          f"define every variant under the config's top-level variants")
    _refuse_non_finite(overrides, prefix, where)
    _raise(list(_overrides_validator().iter_errors(overrides)), where, prefix)
    return overrides


def deep_merge(base: dict, overrides: dict) -> dict:
    """A copy of `base` with `overrides` merged in, nested dicts key by key."""
    out = copy.deepcopy(base)
    for k, v in overrides.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def seeds_from_command_line(cfg: dict) -> dict:
    """`snakemake --config seeds=[0,1]` parses the list with YAML's BaseLoader, which gives strings:
    read digit strings of `seeds` as integers (anything else is left for the schema to refuse)."""
    seeds = cfg.get("seeds")
    if isinstance(seeds, list):
        cfg["seeds"] = [int(s) if isinstance(s, str) and s.strip().isdigit() else s for s in seeds]
    return cfg


def for_seed(cfg: dict, seed: int | None) -> dict:
    """The config of one run: `cfg` with `seed` set to the run's seed (its path level s<seed>; default
    the first of `seeds`). Every stage reads the seed as cfg["seed"]."""
    seed = int(cfg["seeds"][0] if seed is None else seed)
    return {**cfg, "seed": seed}


def apply_variant(cfg: dict, name: str | list[str] | None) -> dict:
    """The config with one or more variants (adaseg.ablations: named variants, config `variants`,
    sweep points) merged over it in order, each checked before merging, validated again."""
    from .ablations import all_variants, resolve_variant

    names = [name] if isinstance(name, str) else list(name or [])
    for n in names:
        overrides = resolve_variant(cfg, n)  # checked against the schema (check_overrides)
        if overrides is None:
            raise ConfigError(f"variant '{n}': unknown variant (known: {', '.join(sorted(all_variants(cfg)))}, "
                              f"or a sweep point <sweep>_<value>, see adaseg.ablations.SWEEPS); "
                              f"fix the name or add it to the config's variants")
        cfg = _validate(deep_merge(cfg, overrides), f"config with variant '{n}' merged over it: ")
    return cfg


def load_config(path: str | Path) -> dict:
    """Read a YAML or JSON config file and validate it (defaults filled in); every problem is a
    one-line ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "not found"
        raise ConfigError(f"config file '{path}' {what}: pass the path of a YAML or JSON config (e.g. config.yaml)")
    try:
        text = path.read_text(encoding="utf-8")
        cfg = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file '{path}' is not UTF-8 text ({e.reason} at byte {e.start}); "
                          f"save it as UTF-8 YAML or JSON") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"config file '{path}' is not valid JSON (line {e.lineno} column {e.colno}: {e.msg}); "
                          f"fix the syntax") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise ConfigError(f"config file '{path}' is not valid YAML ({at}{problem}); fix the syntax") from None
    if isinstance(cfg, dict) and YTE_KEY in cfg:
        raise _yte_error(path)
    return validate_config(cfg, path)


def _yte_error(path) -> ConfigError:
    return ConfigError(f"config file '{path}': {YTE_KEY} makes Snakemake run the file as a YTE template, "
                       f"so a config file is code-equivalent under YTE (its expressions run as Python); "
                       f"the pipeline does not run templated configs: remove {YTE_KEY} and write the values out")


def refuse_templated(paths) -> None:
    """ConfigError for the first of the config files `paths` (YAML or JSON, read without any
    templating) that holds the top-level YTE key. For the Snakefile (`workflow.configfiles`):
    Snakemake itself has already evaluated such a file by then, so this stops the run, not the code."""
    for path in paths:
        try:
            cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # load_config names what is wrong with it
        if isinstance(cfg, dict) and YTE_KEY in cfg:
            raise _yte_error(path)
