"""adaseg.config: shipped configs validate, bad values fail with the key named, ablation and sweep variants apply."""
import copy

import pytest
import yaml

from adaseg.config import deep_merge, load_config, validate_config
from conftest import ROOT


def shipped_configs():
    """(path, config) of config.yaml, tests/tiny.yaml and every configs/*.yaml; a file without
    `datasets` is an overlay (a second `--configfile`), merged over the file it extends: config.yaml,
    or configs/paper_gta5.yaml for configs/paper_synthia.yaml (its header says so)."""
    extends = {"paper_synthia.yaml": ROOT / "configs" / "paper_gta5.yaml"}
    for path in [ROOT / "config.yaml", ROOT / "tests" / "tiny.yaml", *sorted((ROOT / "configs").glob("*.yaml"))]:
        cfg = yaml.safe_load(path.read_text())
        base = yaml.safe_load(extends.get(path.name, ROOT / "config.yaml").read_text())
        yield path, cfg if "datasets" in cfg else deep_merge(base, cfg)


def test_shipped_configs_validate():
    for path, cfg in shipped_configs():
        assert validate_config(cfg, path)["threads"] >= 1


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


def test_every_fidelity_variant_departs_from_the_shipped_defaults():
    """Each fid_* variant (table_fidelity_gta) sets values other than config.yaml's, which are the
    official code's (docs/fidelity.md): a variant equal to the default would measure nothing."""
    from adaseg.ablations import FIDELITY_VARIANTS
    from adaseg.config import apply_variant, load_config

    base = load_config(ROOT / "config.yaml")
    for name, overrides in FIDELITY_VARIANTS.items():
        cfg = apply_variant(base, name)
        for section, values in overrides.items():
            for key, value in values.items():
                assert base[section][key] != value and cfg[section][key] == value, (name, section, key)


def test_objective_iterations_name_the_registry_objectives(tiny):
    """finetune.objective_iterations takes the registry's objectives (and nothing else); the paper
    config carries RIPU's 30k (40k run, first pick at 10k) and D2ADA's 120k per round."""
    import json

    from adaseg.config import validate_config
    from adaseg.registry import OBJECTIVES

    schema = json.loads((ROOT / "src/adaseg/config.schema.json").read_text())
    names = schema["properties"]["finetune"]["properties"]["objective_iterations"]["propertyNames"]["enum"]
    assert set(names) == set(OBJECTIVES)
    ok = dict(tiny, finetune=dict(tiny["finetune"], objective_iterations={"ripu": 7}))
    assert validate_config(ok)["finetune"]["objective_iterations"] == {"ripu": 7}
    with pytest.raises(ValueError, match="objective_iterations"):
        validate_config(dict(tiny, finetune=dict(tiny["finetune"], objective_iterations={"ripux": 7})))
    paper = load_config(ROOT / "configs/paper_gta5.yaml")
    assert paper["finetune"]["objective_iterations"] == {"ripu": 30000, "d2ada": 120000}


def test_the_synthia_paper_config_is_an_overlay_of_the_gta5_one():
    """configs/paper_synthia.yaml merged over configs/paper_gta5.yaml (as Snakemake merges two
    --configfile files): SYNTHIA's warm-up length, its own results folder, everything else GTA5's."""
    gta = yaml.safe_load((ROOT / "configs/paper_gta5.yaml").read_text())
    merged = validate_config(deep_merge(gta, yaml.safe_load((ROOT / "configs/paper_synthia.yaml").read_text())))
    assert merged["warmup"]["iterations"] == 94000 and merged["results"] == "results_paper_synthia"
    assert merged["warmup"]["lr"] == gta["warmup"]["lr"] and merged["finetune"]["stage1"] == gta["finetune"]["stage1"]


def test_sweep_variant_applies_to_config(tiny):
    from adaseg.config import apply_variant, validate_config

    cfg = validate_config(tiny)
    out = apply_variant(cfg, ["src_anchors_7", "ripu_alpha2_1p5"])
    assert out["mada"]["source_anchors"] == 7 and out["ripu"]["negative_weight"] == 1.5
    assert cfg["mada"]["source_anchors"] == 3  # the base config is not modified
    with pytest.raises(ValueError, match="unknown variant"):
        apply_variant(cfg, "src_anchors_x")


def _variants_used(cfg) -> set[str]:
    """Every variant name (after '+') in the runs of every table and the inputs of every figure."""
    import re

    from adaseg.registry import FIGURES, TABLES, Scale

    scale = Scale.from_config(cfg)
    paths = [run for t in TABLES.values() for run in t.runs_at(scale).values()]
    paths += [path for f in FIGURES.values() for _, path in f.items(scale)]
    return {m for p in paths for m in re.findall(r"\+([A-Za-z0-9_]+)", p)}


@pytest.mark.parametrize("config", ["config.yaml", "configs/paper_gta5.yaml", "tests/tiny.yaml"])
def test_every_built_in_variant_and_sweep_point_validates(config):
    """Each paper variant and every variant the tables and figures run (sweep points included)
    passes the strict schema, key by key before merging and merged over the shipped config."""
    from adaseg.ablations import PAPER_VARIANTS, resolve_variant
    from adaseg.config import apply_variant, check_overrides

    base = load_config(ROOT / config)
    used = _variants_used(base)
    assert used, "the registry runs no variant?"
    for name in sorted(set(PAPER_VARIANTS) | used):
        overrides = resolve_variant(base, name)
        assert overrides is not None, name
        check_overrides(name, overrides)
        merged = apply_variant(base, name)
        for section, values in overrides.items():
            for key, value in values.items():
                assert merged[section][key] == value, (name, section, key)


def test_schema_is_strict_and_valid():
    """Every object of the schema refuses unknown keys; a variant may set exactly the top-level
    sections (not `variants`); the schema is valid JSON Schema 2020-12."""
    import jsonschema

    from adaseg.config import schema

    s = schema()
    jsonschema.Draft202012Validator.check_schema(s)
    loose = []

    def walk(node, path):
        if isinstance(node, dict):
            if node.get("type") == "object" and "additionalProperties" not in node and "propertyNames" not in node:
                loose.append(".".join(path))
            for k, v in node.items():
                walk(v, [*path, str(k)])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, [*path, str(i)])

    walk(s, [])
    assert not loose, loose
    sections = s["properties"]["variants"]["additionalProperties"]["propertyNames"]["enum"]
    # every section but the seeds (a path level), the variants themselves and who labels (one oracle
    # per workflow: a table's rows are compared on the same labels)
    assert sorted(sections) == sorted(k for k in s["properties"]
                                      if k not in ("variants", "seeds", "oracle", "annotation"))


def test_snakemake_validation_fills_the_same_defaults():
    """The Snakefile validates with the same schema (snakemake.utils.validate, defaults filled):
    it accepts the shipped configs and fills in what load_config fills in; it refuses unknown keys."""
    snakemake_utils = pytest.importorskip("snakemake.utils")
    from adaseg.config import SCHEMA_PATH

    for path, cfg in shipped_configs():
        expected = validate_config(copy.deepcopy(cfg), path)
        snakemake_utils.validate(cfg, str(SCHEMA_PATH))
        assert cfg == expected, path
    bad = yaml.safe_load((ROOT / "config.yaml").read_text())
    bad["train"]["aux_wieght"] = 0.1
    with pytest.raises(Exception, match="aux_wieght"):
        snakemake_utils.validate(bad, str(SCHEMA_PATH))


def test_seeds_given_on_the_command_line_are_integers(tmp_path):
    """`snakemake --config seeds=[0,1]` reaches the config as ['0', '1'] (YAML BaseLoader)."""
    from snakemake.cli import parse_config

    from adaseg.config import seeds_from_command_line
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg.update(parse_config(["seeds=[4,5]"]))
    assert cfg["seeds"] == ["4", "5"]
    assert validate_config(seeds_from_command_line(cfg))["seeds"] == [4, 5]
    with pytest.raises(ValueError, match="seeds"):
        validate_config(seeds_from_command_line({**cfg, "seeds": ["x"]}))


@pytest.mark.parametrize("where, value", [(("finetune", "stage1", "lr"), float("nan")),
                                          (("warmup", "lr"), float("inf")),
                                          (("train", "scale_range", 1), float("-inf"))])
def test_non_finite_numbers_are_refused_with_their_key(tiny, where, value):
    """YAML's .nan / .inf pass a schema's number bounds (NaN compares false with every bound): a
    learning rate of .nan trained a model of NaN weights with exit 0. Refused, naming the key."""
    cfg = copy.deepcopy(tiny)
    node = cfg
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value
    key = ".".join(map(str, where))
    with pytest.raises(ValueError, match=rf"{key}: .*not a finite number"):
        validate_config(cfg)
    with pytest.raises(ValueError, match="not a finite number"):   # in a variant too
        validate_config(dict(copy.deepcopy(tiny), variants={"v": {"warmup": {"lr": value}}}))
