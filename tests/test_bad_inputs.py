"""Bad inputs, each refused with the adaseg.errors type of its kind as one line that names the file
or config key at fault and the fix (the CLI prints it and exits 2): configs (unknown or misspelled
keys, also inside variants; names that would reach a shell line; evaluation on the training split;
YTE-templated files), datasets and the files of earlier stages (missing, empty, truncated, foreign),
synth clearing a folder it did not write, injection attempts (no command runs), selection budgets
(over the pool, more than is left, nothing selected), checkpoints, anchors and resume files that
belong to another run."""
import copy
import json
import logging
import os
import subprocess
import sys
import types
import zipfile

import h5py
import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from adaseg.config import apply_variant, for_seed, load_config, validate_config
from adaseg.errors import AdasegError, BudgetError, CheckpointError, ConfigError, DatasetError, InputFileError
from adaseg.io import ProcessLocalH5, load_torch, open_masks, read_features, read_json, save_torch, write_ids
from adaseg.models import build_model
from adaseg.models.checkpoint import load_discriminator, load_model
from adaseg.train.common import Checkpointer, checkpoint_meta, fingerprint_differences, run_fingerprint
from adaseg.train.finetune import load_anchors, read_anchors
from conftest import N_IMG, ROOT, cli_env, proxy_ids, run_region, tiny_config, workflow_copy, write_config, write_masks
from test_select_d2ada import D2ADA_CFG, write_d2ada_inputs


# --- config and data -------------------------------------------------------------------------------

INJECT = "x || touch pwned ||"


def _one_line(excinfo, *needles) -> str:
    """The error's message: one line holding every needle."""
    msg = str(excinfo.value)
    assert "\n" not in msg and "\r" not in msg, msg
    for needle in needles:
        assert str(needle) in msg, (needle, msg)
    return msg


# --- config ---------------------------------------------------------------------------------------

def _base():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def _set(path, value):
    def change(cfg):
        *parents, last = path
        node = cfg
        for p in parents:
            node = node[p]
        node[last] = value
    return change


def _seed_not_seeds(cfg):
    del cfg["seeds"]
    cfg["seed"] = 3


def _rename_dataset(new):
    def change(cfg):
        cfg["datasets"][new] = cfg["datasets"].pop("gta5")
    return change


CONFIG_CASES = {
    # (change, needles of the message)
    "unknown top-level key": (_set(["sead"], 1), ["sead", "did you mean 'seeds'"]),
    "one seed instead of a list": (_seed_not_seeds, ["seed", "seeds: [3]"]),
    "misspelled train key": (_set(["train", "aux_wieght"], 0.1), ["train.aux_wieght", "did you mean 'aux_weight'"]),
    "misspelled dataset key": (_set(["datasets", "gta5", "roots"], "x"), ["datasets.gta5.roots", "'root'"]),
    "misspelled proxy count": (_set(["proxy", "counts", "cityscape_val"], 3), ["proxy.counts.cityscape_val", "cityscapes_val"]),
    "misspelled warm-up key": (_set(["warmup", "adaptseg", "disc_widht"], 4), ["warmup.adaptseg.disc_widht", "disc_width"]),
    "misspelled stage key": (_set(["finetune", "stage1", "iteration"], 4), ["finetune.stage1.iteration", "iterations"]),
    "misspelled mcu key": (_set(["mcu", "gama"], 0.5), ["mcu.gama", "gamma"]),
    "unknown evaluation key": (_set(["evaluation", "flipp"], True), ["evaluation.flipp", "flip"]),
    "variant with a misspelled key": (_set(["variants"], {"mine": {"train": {"aux_wieght": 0.1}}}),
                                      ["variants.mine.train.aux_wieght", "aux_weight"]),
    "variant with an unknown section": (_set(["variants"], {"mine": {"mdoel": 1}}), ["variants.mine", "mdoel", "'model'"]),
    "variant with a bad value": (_set(["variants"], {"mine": {"ripu": {"negative_weight": -1}}}),
                                 ["variants.mine.ripu.negative_weight"]),
    "variant that is not a mapping": (_set(["variants"], {"mine": 3}), ["variants.mine"]),
    "variant name with shell characters": (_set(["variants"], {"a;b": {"mada": {"budget": 1}}}), ["variants", "'a;b'"]),
    "dataset name with shell characters": (_rename_dataset(INJECT), ["datasets", repr(INJECT), "rename"]),
    "dataset name with a newline": (_rename_dataset("gta5\n"), ["datasets", "'gta5\\n'"]),
    "dataset name '..'": (_rename_dataset(".."), ["datasets", "'..'"]),
    "target with shell characters": (_set(["target"], "city;rm"), ["target", "'city;rm'"]),
    "results with a newline": (_set(["results"], "res\nults"), ["results", "newline"]),
    "dataset root with NUL": (_set(["datasets", "gta5", "root"], "data/\x00gta5"), ["datasets.gta5.root", "NUL"]),
    "empty results path": (_set(["results"], ""), ["results", "empty"]),
    "evaluation on train": (_set(["evaluation", "split"], "train"), ["evaluation.split", "allow_train"]),
    "target not a dataset": (_set(["target"], "mapillary"), ["target 'mapillary'"]),
    "bad value": (_set(["model", "backbone"], "vgg16"), ["model.backbone", "vgg16"]),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config_is_one_line_naming_the_key_and_the_file(case, tmp_path):
    change, needles = CONFIG_CASES[case]
    cfg = _base()
    change(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    _one_line(e, str(path), *needles)
    with pytest.raises(ConfigError) as e:  # the same without a file
        validate_config(yaml.safe_load(path.read_text()))
    _one_line(e, *needles)


def test_train_split_is_allowed_when_asked():
    cfg = _base()
    cfg["evaluation"].update(split="train", allow_train=True)
    assert validate_config(cfg)["evaluation"]["split"] == "train"
    assert validate_config(_base())["evaluation"]["allow_train"] is False


def test_paths_with_spaces_and_names_with_dots_are_accepted():
    cfg = _base()
    cfg["results"] = "results with space"
    cfg["datasets"]["gta5.v2+x-y_z"] = cfg["datasets"].pop("gta5")
    validate_config(cfg)


def test_variant_overrides_are_checked_before_merging():
    """A variant's unknown key fails naming the variant and the key, both for a config variant used
    through apply_variant and for a built-in sweep point with an invalid value."""
    base = load_config(ROOT / "config.yaml")
    with pytest.raises(ConfigError) as e:
        apply_variant(dict(base, variants={"mine": {"mada": {"emma": False}}}), "mine")
    _one_line(e, "variants.mine.mada.emma", "did you mean 'ema'")
    with pytest.raises(ConfigError) as e:
        apply_variant(base, "src_anchors_0")
    _one_line(e, "variant 'src_anchors_0'", "mada.source_anchors")
    with pytest.raises(ConfigError) as e:
        apply_variant(base, "nope")
    _one_line(e, "variant 'nope'", "unknown variant")


CONFIG_FILE_CASES = {
    "YTE template": ("__use_yte__: true\nseed: 0\n", ["__use_yte__", "code-equivalent", "templated"]),
    "YTE key set false": ("__use_yte__: false\nseed: 0\n", ["__use_yte__"]),
    "YAML syntax": ("seed: [0\nresults: r\n", ["not valid YAML", "line"]),
    "not a mapping": ("- 1\n- 2\n", ["top level must be a mapping"]),
    "empty": ("", ["top level must be a mapping"]),
}


@pytest.mark.parametrize("case", list(CONFIG_FILE_CASES))
def test_bad_config_file_is_one_line_naming_it(case, tmp_path):
    text, needles = CONFIG_FILE_CASES[case]
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    _one_line(e, str(path), *needles)


def test_yte_config_is_refused_although_otherwise_valid(tmp_path):
    cfg = _base()
    path = tmp_path / "cfg.yaml"
    path.write_text("__use_yte__: true\n" + yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    _one_line(e, str(path), "YTE")


def test_refuse_templated_names_the_yte_config_file(tmp_path):
    from adaseg.config import refuse_templated

    plain, templated = tmp_path / "a.yaml", tmp_path / "b.yaml"
    plain.write_text("seed: 0\n")
    templated.write_text("__use_yte__: true\nseed: 0\n")
    refuse_templated([plain])
    with pytest.raises(ConfigError) as e:
        refuse_templated([plain, templated])
    _one_line(e, templated, "YTE")


def test_missing_or_broken_json_config_is_named(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "nope.yaml")
    _one_line(e, tmp_path / "nope.yaml", "not found")
    (tmp_path / "c.json").write_text('{"seed": 0,')
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "c.json")
    _one_line(e, tmp_path / "c.json", "not valid JSON")


def test_cli_prints_a_bad_config_as_one_line_with_exit_code_2(tmp_path, capsys):
    from adaseg.cli import main

    cfg = tiny_config(tmp_path)
    cfg["train"]["aux_wieght"] = 0.1
    path = write_config(tmp_path, cfg)
    assert main(["synth", "--config", str(path), "--dataset", "gta5", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "train.aux_wieght" in err and str(path) in err, err
    assert not (tmp_path / "out").exists()


# --- synth ----------------------------------------------------------------------------------------

COUNTS = {"gta5": 2, "synthia": 2, "cityscapes_train": 2, "cityscapes_val": 1}


def test_synth_refuses_to_clear_a_folder_it_did_not_write(tmp_path):
    from adaseg.data.synth import MARKER, generate

    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("precious")
    with pytest.raises(DatasetError) as e:
        generate(mine, "gta5", 0, 16, 32, COUNTS)
    _one_line(e, mine, MARKER)
    assert (mine / "chapter1.tex").read_text() == "precious" and not (tmp_path / "thesis.tmp").exists()
    # a file where the folder should go; a foreign <out>.tmp
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DatasetError) as e:
        generate(tmp_path / "afile", "gta5", 0, 16, 32, COUNTS)
    _one_line(e, tmp_path / "afile", "is a file")
    (tmp_path / "data.tmp").mkdir()
    (tmp_path / "data.tmp" / "keep.txt").write_text("x")
    with pytest.raises(DatasetError) as e:
        generate(tmp_path / "data", "gta5", 0, 16, 32, COUNTS)
    _one_line(e, tmp_path / "data.tmp")
    assert (tmp_path / "data.tmp" / "keep.txt").exists()


def test_synth_replaces_its_own_and_empty_folders_and_marks_them(tmp_path):
    from adaseg.data.synth import MARKER, generate

    out = tmp_path / "gta5"
    out.mkdir()  # empty: allowed
    generate(out, "gta5", 0, 16, 32, COUNTS)
    marker = json.loads((out / MARKER).read_text())
    assert marker["written_by"] == "adaseg synth" and marker["complete"] and marker["counts"] == {"gta5": 2}
    assert str(tmp_path) not in (out / MARKER).read_text()  # no paths: the same bytes wherever it is made
    (out / "images" / "extra.png").write_bytes(b"")
    generate(out, "gta5", 1, 16, 32, COUNTS)  # its own folder: replaced
    assert not (out / "images" / "extra.png").exists() and json.loads((out / MARKER).read_text())["seed"] == 1


def test_cli_synth_refuses_a_foreign_folder_with_exit_code_2(tmp_path, capsys):
    from adaseg.cli import main

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    path = write_config(tmp_path, tiny_config(tmp_path))
    assert main(["synth", "--config", str(path), "--dataset", "gta5", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(out) in err, err
    assert (out / "keep.txt").exists()


# --- dataset files --------------------------------------------------------------------------------

def _png(path, h, w, rgb=True, value=7):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((h, w, 3) if rgb else (h, w), value, np.uint8)
    Image.fromarray(arr).save(path)


def _gta5(root, sizes, label_sizes=None):
    for i, (h, w) in enumerate(sizes):
        _png(root / "images" / f"{i:05d}.png", h, w)
        lh, lw = (label_sizes or sizes)[i]
        _png(root / "labels" / f"{i:05d}.png", lh, lw, rgb=False)
    return root


def _ds(root, **kw):
    from adaseg.data.datasets import SegmentationDataset

    return SegmentationDataset("gta5", root, **kw)


def _label_smaller(tmp):
    root = _gta5(tmp / "gta5", [(8, 16)], [(6, 16)])
    return (lambda: _ds(root).label(0)), DatasetError, [root / "labels/00000.png", root / "images/00000.png", "16x6", "16x8"]


def _label_smaller_with_resize(tmp):
    root = _gta5(tmp / "gta5", [(8, 16)], [(6, 16)])
    return (lambda: _ds(root, resize=(16, 32)).label(0)), DatasetError, [root / "labels/00000.png", "16x6", "16x8"]


def _label_smaller_at_evaluation(tmp):
    from adaseg.evaluate import eval_label

    root = _gta5(tmp / "gta5", [(8, 16)], [(8, 12)])
    return (lambda: eval_label(_ds(root, resize=(8, 16)), 0, "native")), DatasetError, [root / "labels/00000.png", "12x8"]


def _label_smaller_into_cache(tmp):
    from adaseg.data.cache import write_cache

    root = _gta5(tmp / "gta5", [(8, 16), (8, 16)], [(8, 16), (8, 14)])
    return (lambda: write_cache(_ds(root), tmp / "c.h5")), DatasetError, [root / "labels/00001.png", "14x8"]


def _empty_image(tmp):
    root = _gta5(tmp / "gta5", [(8, 16)])
    (root / "images/00000.png").write_bytes(b"")
    return (lambda: _ds(root).image(0)), DatasetError, [root / "images/00000.png", "empty"]


def _empty_image_header(tmp):
    root = _gta5(tmp / "gta5", [(8, 16)])
    (root / "images/00000.png").write_bytes(b"")
    return (lambda: _ds(root).image_sizes()), DatasetError, [root / "images/00000.png", "empty"]


def _undecodable_image(tmp):
    root = _gta5(tmp / "gta5", [(8, 16)])
    (root / "images/00000.png").write_bytes(b"GIF89a not an image at all")
    return (lambda: _ds(root).image_sizes()), DatasetError, [root / "images/00000.png"]


def _undecodable_image_read(tmp):
    root = _gta5(tmp / "gta5", [(8, 16)])
    (root / "images/00000.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return (lambda: _ds(root).image(0)), DatasetError, [root / "images/00000.png", "not a decodable image"]


def _empty_label(tmp):
    root = _gta5(tmp / "gta5", [(8, 16)])
    (root / "labels/00000.png").write_bytes(b"")
    return (lambda: _ds(root).label(0)), DatasetError, [root / "labels/00000.png", "empty"]


def _mixed_sizes(tmp):
    root = _gta5(tmp / "gta5", [(8, 16), (10, 16)])
    return (lambda: _ds(root).image_size()), DatasetError, [root / "images", "16x8", "16x10", "resize", "train.crop"]


# --- stage files ----------------------------------------------------------------------------------

def _features_file(tmp, **datasets):
    path = tmp / "results" / "gta5" / "features" / "warmup" / "target.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        for name, value in datasets.items():
            if name == "ids":
                write_ids(h5, value)
            else:
                h5[name] = value
    return path


def _good_features(tmp):
    return _features_file(tmp, ids=[f"{i:05d}" for i in range(50)], features=np.random.default_rng(0).random((50, 64)))


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _features_truncated(tmp):
    path = _truncate(_good_features(tmp))
    return (lambda: read_features(path)), InputFileError, [path, "rule features", "adaseg features"]


def _features_not_hdf5(tmp):
    path = _good_features(tmp)
    path.write_text("id,feature\n1,2\n")
    return (lambda: read_features(path)), InputFileError, [path, "not an HDF5 file", "rule features"]


def _features_empty(tmp):
    path = _good_features(tmp)
    path.write_bytes(b"")
    return (lambda: read_features(path)), InputFileError, [path, "empty", "rule features"]


def _features_missing(tmp):
    path = tmp / "results" / "gta5" / "features" / "warmup" / "source.h5"
    return (lambda: read_features(path)), InputFileError, [path, "does not exist", "rule features"]


def _features_without_dataset(tmp):
    path = _features_file(tmp, ids=["a"], other=np.zeros((1, 2)))
    return (lambda: read_features(path)), InputFileError, [path, "'features'", "rule features"]


def _features_without_ids(tmp):
    path = _features_file(tmp, features=np.zeros((1, 2)))
    return (lambda: read_features(path)), InputFileError, [path, "'ids'"]


def _masks_path(tmp):
    path = tmp / "results" / "gta5" / "select" / "ripu_ra" / "5" / "ripu" / "round1of2" / "masks.h5"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _open_masks(path):
    def read():
        with open_masks(path) as (ids, masks):
            return ids, masks.shape
    return read


def _masks_truncated(tmp):
    path = _masks_path(tmp)
    with h5py.File(path, "w") as h5:
        write_ids(h5, ["a", "b"])
        h5.create_dataset("masks", data=np.ones((2, 64, 64), bool))
    _truncate(path, 0.3)
    return _open_masks(path), InputFileError, [path, "select_regions"]


def _masks_not_hdf5(tmp):
    path = _masks_path(tmp)
    path.write_bytes(b"PK\x03\x04 a zip, not a masks file")
    return _open_masks(path), InputFileError, [path, "not an HDF5 file", "select_regions"]


def _masks_foreign(tmp):
    path = _masks_path(tmp)
    with h5py.File(path, "w") as h5:
        write_ids(h5, ["a"])
        h5["labels"] = np.zeros((1, 4, 4), np.uint8)  # a pseudo-label file, not masks
    return _open_masks(path), InputFileError, [path, "foreign masks file", "'masks'"]


def _masks_foreign_without_ids(tmp):
    path = _masks_path(tmp)
    with h5py.File(path, "w") as h5:
        h5["masks"] = np.zeros((1, 4, 4), bool)
    return _open_masks(path), InputFileError, [path, "foreign masks file", "'ids'"]


def _masks_count_mismatch(tmp):
    path = _masks_path(tmp)
    with h5py.File(path, "w") as h5:
        write_ids(h5, ["a", "b", "c"])
        h5["masks"] = np.zeros((2, 4, 4), bool)
    return _open_masks(path), InputFileError, [path, "foreign masks file"]


def _h5_rows_not_hdf5(tmp):
    from adaseg.data.loader import H5Rows

    path = tmp / "results" / "gta5" / "pseudo_labels" / "m.h5"
    path.parent.mkdir(parents=True)
    path.write_text("nope")
    return (lambda: H5Rows(str(path), "labels", ["a"])), InputFileError, [path, "rule pseudo_labels"]


def _process_local_not_hdf5(tmp):
    path = tmp / "x.h5"
    path.write_text("nope")
    return (lambda: ProcessLocalH5(path)()), InputFileError, [path]


def _cache_setup(tmp):
    root = _gta5(tmp / "gta5", [(8, 16), (8, 16)])
    path = tmp / "results" / "cache" / "gta5" / "train.h5"
    path.parent.mkdir(parents=True)
    return root, path


def _cache_truncated(tmp):
    from adaseg.data.cache import write_cache

    root, path = _cache_setup(tmp)
    write_cache(_ds(root), path)
    _truncate(path, 0.5)
    return (lambda: _ds(root, cache=path)), InputFileError, [path, "cache_dataset"]


def _cache_not_hdf5(tmp):
    root, path = _cache_setup(tmp)
    path.write_text("{}")
    return (lambda: _ds(root, cache=path)), InputFileError, [path, "not an HDF5 file", "cache_dataset"]


def _cache_foreign(tmp):
    root, path = _cache_setup(tmp)
    with h5py.File(path, "w") as h5:
        write_ids(h5, ["00000", "00001"])
        h5["features"] = np.zeros((2, 3))
    return (lambda: _ds(root, cache=path)), InputFileError, [path, "'images'", "cache_dataset"]


def _cache_missing(tmp):
    root, path = _cache_setup(tmp)
    return (lambda: _ds(root, cache=path)), InputFileError, [path, "missing", "cache_dataset", "cache: false"]


def _cache_stale(tmp):
    from adaseg.data.cache import write_cache

    root, path = _cache_setup(tmp)
    write_cache(_ds(root), path)
    _png(root / "images" / "00002.png", 8, 16)
    _png(root / "labels" / "00002.png", 8, 16, rgb=False)
    return (lambda: _ds(root, cache=path)), InputFileError, [path, "stale cache", "cache_dataset"]


def _cache_wrong_resize(tmp):
    from adaseg.data.cache import write_cache

    root, path = _cache_setup(tmp)
    write_cache(_ds(root), path)
    return (lambda: _ds(root, cache=path, resize=(16, 32))), InputFileError, [path, "resize", "[16, 32]", "cache_dataset"]


def _selection_path(tmp):
    path = tmp / "results" / "gta5" / "select" / "mada" / "5" / "stage1" / "round1of1" / "selection.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _selection_truncated(tmp):
    path = _selection_path(tmp)
    path.write_text(json.dumps({"selected": [{"id": f"{i:05d}"} for i in range(20)]})[:-40])
    return (lambda: read_json(path)), InputFileError, [path, "truncated", "select_image"]


def _selection_not_json(tmp):
    path = _selection_path(tmp)
    path.write_bytes(b"\x89HDF\r\n\x1a\n\x00\x00\xff\xfe binary")
    return (lambda: read_json(path)), InputFileError, [path, "select_image"]


def _selection_empty(tmp):
    path = _selection_path(tmp)
    path.write_text("")
    return (lambda: read_json(path)), InputFileError, [path, "empty"]


def _evaluation_not_json(tmp):
    path = tmp / "results" / "gta5" / "eval" / "warmup.json"
    path.parent.mkdir(parents=True)
    path.write_text("miou: 41.2\n")
    return (lambda: read_json(path)), InputFileError, [path, "not valid JSON", "rule evaluate"]


def _evaluation_missing(tmp):
    path = tmp / "results" / "gta5" / "eval" / "warmup.json"
    return (lambda: read_json(path)), InputFileError, [path, "does not exist", "rule evaluate"]


def _evaluate_train_split(tmp):
    from adaseg.evaluate import evaluate

    cfg = {"evaluation": {"split": "train", "resolution": "native", "flip": False}}
    return (lambda: evaluate(cfg, str(tmp / "m.pt"), "cityscapes", str(tmp / "e.json"))), ConfigError, ["evaluation.split"]


FILE_CASES = [_label_smaller, _label_smaller_with_resize, _label_smaller_at_evaluation, _label_smaller_into_cache,
              _empty_image, _empty_image_header, _undecodable_image, _undecodable_image_read, _empty_label, _mixed_sizes,
              _features_truncated, _features_not_hdf5, _features_empty, _features_missing, _features_without_dataset,
              _features_without_ids, _masks_truncated, _masks_not_hdf5, _masks_foreign, _masks_foreign_without_ids,
              _masks_count_mismatch, _h5_rows_not_hdf5, _process_local_not_hdf5, _cache_truncated, _cache_not_hdf5,
              _cache_foreign, _cache_missing, _cache_stale, _cache_wrong_resize, _selection_truncated,
              _selection_not_json, _selection_empty, _evaluation_not_json, _evaluation_missing, _evaluate_train_split]


@pytest.mark.parametrize("case", FILE_CASES, ids=[c.__name__.strip("_") for c in FILE_CASES])
def test_bad_input_file_is_one_line_naming_the_file(case, tmp_path):
    run, kind, needles = case(tmp_path)
    with pytest.raises(kind) as e:
        run()
    assert isinstance(e.value, AdasegError)
    _one_line(e, *needles)


def test_matching_label_sizes_still_read_with_resize(tmp_path):
    """The documented resize: image and label of one raw size, both read at `resize`."""
    root = _gta5(tmp_path / "gta5", [(8, 16)])
    ds = _ds(root, resize=(16, 32))
    assert ds.image(0).shape == (16, 32, 3) and ds.label(0).shape == (16, 32)


# --- Snakemake: names and paths reaching shell lines ------------------------------------------------

def _snakemake(work, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", *args], cwd=work, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)


def _no_pwned(folder):
    assert not [p for p in folder.rglob("pwned")], "an injected command ran"


@pytest.mark.slow
def test_injected_dataset_name_is_refused(tmp_path):
    work = workflow_copy(tmp_path / "work")
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    cfg["datasets"][INJECT] = dict(cfg["datasets"].pop("gta5"), root=f"data/proxy/{INJECT}")
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    dry = _snakemake(work, "-n")
    out = dry.stdout + dry.stderr
    assert dry.returncode != 0 and "does not match" in out, out[-2000:]
    real = _snakemake(work, f"data/proxy/{INJECT}")
    assert real.returncode != 0, (real.stdout + real.stderr)[-2000:]
    cli = subprocess.run([sys.executable, "-m", "adaseg", "synth", "--config", "config.yaml", "--dataset", INJECT,
                          "--out", f"data/proxy/{INJECT}"], cwd=work, env=cli_env(), capture_output=True, text=True)
    err = cli.stderr.strip()
    assert cli.returncode == 2 and "\n" not in err and repr(INJECT) in err, err
    _no_pwned(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("results", ["r || touch pwned ||", "r with space"])
def test_results_path_with_shell_characters_or_spaces_runs_safely(results, tmp_path):
    """A small target (the synth of one proxy dataset and its decoded-sample cache) runs with the
    results folder named literally, and no injected command runs."""
    work = workflow_copy(tmp_path / "work")
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    cfg["results"] = results
    cfg["datasets"]["gta5"]["cache"] = True
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    dry = _snakemake(work, "-n")
    assert dry.returncode == 0, (dry.stdout + dry.stderr)[-3000:]
    target = f"{results}/cache/gta5/train.h5"
    real = _snakemake(work, target)
    assert real.returncode == 0, (real.stdout + real.stderr)[-3000:]
    assert (work / target).is_file() and (work / "data" / "proxy" / "gta5" / "images").is_dir()
    snapshots = list((work / results).rglob("*.json"))  # the config snapshot the jobs read
    assert any(json.loads(p.read_text()).get("results") == results for p in snapshots), snapshots
    _no_pwned(tmp_path)


# --- select ------------------------------------------------------------------------------------

def _d2ada(tmp_path, paths, budget=25.0, previous=True, round_k=2, strategy="d2ada", superpixels=None):
    from adaseg.select.d2ada import run_d2ada
    return run_d2ada(D2ADA_CFG, strategy=strategy, target_regions=str(paths["target"]),
                     superpixels=str(superpixels or paths["superpixels"]), round_k=round_k, budget_percent=budget,
                     out=tmp_path / "sel.json", masks_out=tmp_path / "m_out.h5", gmm_out=tmp_path / "gmm.npz",
                     source_regions=str(paths["source"]), previous_masks=str(paths["masks"]) if previous else None)


def _image(cfg, tmp_path, budget, strategy="random", target_features=None):
    from adaseg.select.run import run_selection
    return run_selection(cfg, strategy=strategy, target="cityscapes", budget_percent=budget,
                         out=tmp_path / "selection.json", target_features=target_features)


# --- the cases: each returns (a callable that must raise, the exception type, what the message names) ---

def pa_pixels_over_the_image(cfg, ck, tmp):
    cfg["ripu"]["pa_pixels_per_image"] = 2_000_000
    return lambda: run_region(cfg, ck, tmp, "ripu_pa"), BudgetError, ["ripu.pa_pixels_per_image", "2,000,000", "2,048"]


def region_round_more_than_left(cfg, ck, tmp):
    prev = write_masks(tmp / "prev.h5", proxy_ids(cfg), 0.5)         # half of every image labelled
    return (lambda: run_region(cfg, ck, tmp, "mcu", 60.0, prev, (1, 1)), BudgetError,
            ["mcu round 1 of 1", "7,374", "6,144", "prev.h5", "multi_round.rounds"])


def region_chain_over_the_pool(cfg, ck, tmp):
    return lambda: run_region(cfg, ck, tmp, "mcu", 60.0, None, (1, 2)), BudgetError, ["120%", "multi_round.rounds"]


def d2ada_round_more_than_left(cfg, ck, tmp):
    # 12 regions of 16 px in 3 images (192 px), 11 labelled: 16 px left; 20% = 38 px
    paths, _ = write_d2ada_inputs(tmp, labelled_segments=[(i, s) for i in range(3) for s in range(4)][:11])
    return lambda: _d2ada(tmp, paths, 20.0), BudgetError, ["d2ada round 2", "38 px", "16 of the 192 px", "masks.h5"]


def image_budget_selects_nothing(cfg, ck, tmp):
    return lambda: _image(cfg, tmp, 1e-6), BudgetError, ["selection.json", "1e-06%", "12,288", "0.00814"]


def mcu_budget_selects_nothing(cfg, ck, tmp):
    return lambda: run_region(cfg, ck, tmp, "mcu", 0.01), BudgetError, ["selection.json", "0.01%", "0.0489"]


def ra_budget_below_one_square(cfg, ck, tmp):
    # 0.1% of 2,048 px = 2 px, less than even a corner square (4 px); one 3x3 square is 0.44%
    return lambda: run_region(cfg, ck, tmp, "ripu_ra", 0.1), BudgetError, ["selection.json", "9 px", "0.44%"]


def pa_round_share_zero(cfg, ck, tmp):
    cfg["ripu"]["pa_pixels_per_image"] = 1
    return (lambda: run_region(cfg, ck, tmp, "ripu_pa", 5.0, None, (1, 2)), BudgetError,
            ["selection.json", "ripu.pa_pixels_per_image", "at least 2"])


def d2ada_budget_below_a_superpixel(cfg, ck, tmp):
    paths, _ = write_d2ada_inputs(tmp)          # 16 px superpixels in a 192 px pool: 5% = 10 px
    return lambda: _d2ada(tmp, paths, 5.0), BudgetError, ["sel.json", "10 px", "16 px", "8.34%"]


def image_budget_over_the_pool(cfg, ck, tmp):
    return lambda: _image(cfg, tmp, 150.0), BudgetError, ["selection.json", "150%", "mada.budget"]


def image_budget_zero(cfg, ck, tmp):
    return lambda: _image(cfg, tmp, 0.0), BudgetError, ["selection.json", "0%", "<budget>"]


def region_budget_over_the_image(cfg, ck, tmp):
    return lambda: run_region(cfg, ck, tmp, "ripu_ra", 150.0), BudgetError, ["ripu_ra", "150%", "--budget"]


def d2ada_budget_over_the_pool(cfg, ck, tmp):
    paths, _ = write_d2ada_inputs(tmp)
    return lambda: _d2ada(tmp, paths, 101.0), BudgetError, ["d2ada round 2", "101%", "--budget"]


def region_foreign_masks(cfg, ck, tmp):
    prev = write_masks(tmp / "other.h5", [f"x{i}" for i in range(N_IMG)])
    return (lambda: run_region(cfg, ck, tmp, "ripu_ra", 5.0, prev, (2, 3))), InputFileError, \
        ["other.h5", "foreign masks", "round1of3/masks.h5"]


def region_masks_of_another_size(cfg, ck, tmp):
    prev = write_masks(tmp / "small.h5", proxy_ids(cfg), 0.0, size=(16, 32))
    return lambda: run_region(cfg, ck, tmp, "mcu", 5.0, prev, (2, 2)), InputFileError, ["small.h5", "16x32", "32x64"]


def d2ada_foreign_masks(cfg, ck, tmp):
    paths, _ = write_d2ada_inputs(tmp)
    write_masks(paths["masks"], ["a", "b", "c"], size=(8, 8))
    return lambda: _d2ada(tmp, paths), InputFileError, ["masks.h5", "foreign masks", "round1of<R>"]


def d2ada_superpixels_of_other_images(cfg, ck, tmp):
    paths, _ = write_d2ada_inputs(tmp)
    other = tmp / "other"
    other.mkdir()
    other_paths, _ = write_d2ada_inputs(other, ids=["p", "q", "r"])
    return (lambda: _d2ada(tmp, paths, superpixels=other_paths["superpixels"]), InputFileError,
            ["other/superpixels.h5", "target.h5", "region_features"])


def feature_dump_of_other_images(cfg, ck, tmp):
    from adaseg.io import write_ids
    dump = tmp / "target_features.h5"
    with h5py.File(dump, "w") as h5:
        write_ids(h5, [f"x{i}" for i in range(N_IMG)])
        h5.create_dataset("entropy", data=np.ones((N_IMG, 1), np.float32))
    return (lambda: _image(cfg, tmp, 10.0, "entropy", str(dump)), InputFileError,
            ["target_features.h5", "rule features", "--mode target"])


def feature_dump_without_the_field(cfg, ck, tmp):
    from adaseg.io import write_ids
    dump = tmp / "target_features.h5"
    with h5py.File(dump, "w") as h5:
        write_ids(h5, proxy_ids(cfg))
        h5.create_dataset("margin", data=np.ones((N_IMG, 1), np.float32))
    return lambda: _image(cfg, tmp, 10.0, "entropy", str(dump)), InputFileError, ["target_features.h5", "entropy"]


CASES = [pa_pixels_over_the_image, region_round_more_than_left, region_chain_over_the_pool, d2ada_round_more_than_left,
         image_budget_selects_nothing, mcu_budget_selects_nothing, ra_budget_below_one_square, pa_round_share_zero,
         d2ada_budget_below_a_superpixel, image_budget_over_the_pool, image_budget_zero, region_budget_over_the_image,
         d2ada_budget_over_the_pool, region_foreign_masks, region_masks_of_another_size, d2ada_foreign_masks,
         d2ada_superpixels_of_other_images, feature_dump_of_other_images, feature_dump_without_the_field]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_selection_input_is_one_line_naming_it(case, region_cfg, checkpoint, tmp_path):
    call, kind, names = case(region_cfg, checkpoint, tmp_path)
    with pytest.raises(kind) as e:
        call()
    msg = str(e.value)
    assert "\n" not in msg and msg == msg.strip(), msg
    for name in names:
        assert name in msg, (name, msg)
    for output in ("selection.json", "sel.json", "masks_out.h5", "m_out.h5"):   # nothing half-written
        assert not (tmp_path / output).exists(), output


# --- train -------------------------------------------------------------------------------------

TINY_MODEL = {"backbone": "resnet18", "output_stride": 16, "aspp_channels": 8, "decoder_channels": 8,
              "low_level_channels": 8}


def _one_line_naming(err, path) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert str(path) in msg, msg
    assert "weights_only" not in msg, msg
    return msg


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory):
    """A small model checkpoint as the warm-up writes it."""
    path = tmp_path_factory.mktemp("ckpt") / "warmup.pt"
    torch.manual_seed(0)
    cfg = {"model": TINY_MODEL}
    save_torch(path, {"model": build_model(TINY_MODEL, 19).state_dict(), "iteration": 4,
                      "meta": checkpoint_meta(cfg, 19, "cityscapes19", stage="warmup_source_only", source="gta5")})
    return path


# --- checkpoints ----------------------------------------------------------------------------------

def _missing(tmp, real):
    return tmp / "nowhere" / "warmup.pt"


def _empty(tmp, real):
    (tmp / "empty.pt").write_bytes(b"")
    return tmp / "empty.pt"


def _truncated(tmp, real):
    data = real.read_bytes()
    (tmp / "truncated.pt").write_bytes(data[:len(data) // 2])
    return tmp / "truncated.pt"


def _garbage(tmp, real):
    (tmp / "garbage.pt").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return tmp / "garbage.pt"


class Foreign:  # a pickled object of a class: a torch file that weights_only=True refuses
    pass


def _foreign(tmp, real):
    torch.save({"model": Foreign()}, tmp / "foreign.pt")
    return tmp / "foreign.pt"


def _without_meta(tmp, real):
    save_torch(tmp / "no_meta.pt", {"model": load_torch(real)["model"]})
    return tmp / "no_meta.pt"


def _bare_state_dict(tmp, real):
    save_torch(tmp / "state_dict.pt", load_torch(real)["model"])
    return tmp / "state_dict.pt"


def _meta_without_model_cfg(tmp, real):
    ck = load_torch(real)
    del ck["meta"]["model_cfg"]
    save_torch(tmp / "no_model_cfg.pt", ck)
    return tmp / "no_model_cfg.pt"


def _weights_of_another_model(tmp, real):
    ck = load_torch(real)
    ck["meta"]["model_cfg"] = dict(ck["meta"]["model_cfg"], decoder_channels=16)
    save_torch(tmp / "other_weights.pt", ck)
    return tmp / "other_weights.pt"


def _nan_weights(tmp, real):
    ck = load_torch(real)
    name = next(k for k, v in ck["model"].items() if v.is_floating_point())
    ck["model"][name] = ck["model"][name].clone().fill_(float("nan"))
    save_torch(tmp / "nan_weights.pt", ck)
    return tmp / "nan_weights.pt"


BAD_CHECKPOINTS = [
    (_nan_weights, "NaN or infinite"), (_missing, "does not exist"), (_empty, "empty"), (_truncated, "truncated"), (_garbage, "not a torch checkpoint"),
    (_foreign, "adaseg did not write it"), (_without_meta, "no 'meta'"), (_bare_state_dict, "no 'meta'"),
    (_meta_without_model_cfg, "lacks model_cfg"), (_weights_of_another_model, "do not fit"),
]


@pytest.mark.parametrize("make,says", BAD_CHECKPOINTS, ids=[m.__name__.strip("_") for m, _ in BAD_CHECKPOINTS])
def test_bad_checkpoint_is_one_line_checkpoint_error(tmp_path, real_checkpoint, make, says):
    path = make(tmp_path, real_checkpoint)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    msg = _one_line_naming(err, path)
    assert says in msg
    assert "adaseg warmup" in msg or "adaseg finetune" in msg  # which stage writes a checkpoint


def test_no_meta_and_no_model_cfg_say_who_writes_checkpoints(tmp_path, real_checkpoint):
    with pytest.raises(CheckpointError, match="not write it; point to a checkpoint written by adaseg warmup"):
        load_model(_without_meta(tmp_path, real_checkpoint))
    with pytest.raises(CheckpointError, match="rerun the stage that wrote it"):
        load_discriminator(_meta_without_model_cfg(tmp_path, real_checkpoint))


@pytest.mark.parametrize("make", [_missing, _empty, _truncated, _garbage, _foreign])
def test_load_torch_errors_are_checkpoint_errors(tmp_path, real_checkpoint, make):
    path = make(tmp_path, real_checkpoint)
    with pytest.raises(CheckpointError) as err:
        load_torch(path)
    _one_line_naming(err, path)


def test_real_checkpoint_loads(real_checkpoint):
    model, meta = load_model(real_checkpoint)
    assert meta["model_cfg"]["backbone"] == "resnet18" and model.classifier.out_channels == 19


# --- byte-identical checkpoints -------------------------------------------------------------------

def test_save_torch_is_byte_identical_across_paths(tmp_path):
    torch.manual_seed(0)
    obj = {"model": build_model(TINY_MODEL, 19).state_dict(), "iteration": 3,
           "meta": checkpoint_meta({"model": TINY_MODEL}, 19, "cityscapes19", stage="test")}
    a, b = tmp_path / "a.pt", tmp_path / "sub" / "other_name.pt"
    save_torch(a, obj)
    save_torch(b, obj)
    assert a.read_bytes() == b.read_bytes()
    assert {n.split("/")[0] for n in zipfile.ZipFile(a).namelist()} == {"archive"}
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    back = load_torch(b)
    assert all(torch.equal(back["model"][k], v) for k, v in obj["model"].items())


# --- target anchors -------------------------------------------------------------------------------

def _anchor_ctx(tmp_path, ncls=19, channels=8):
    model = types.SimpleNamespace(feature_dim=channels)
    return types.SimpleNamespace(ncls=ncls, model=model, device=torch.device("cpu"), state={},
                                 init=str(tmp_path / "stage1.pt"))


def test_anchors_of_the_wrong_shape(tmp_path):
    path = tmp_path / "anchors.npz"
    np.savez(path, anchors=np.zeros((3, 19 * 16), np.float32))  # a model with 16 decoder channels
    with pytest.raises(InputFileError) as err:
        load_anchors(_anchor_ctx(tmp_path), str(path))
    msg = _one_line_naming(err, path)
    assert "(3, 304)" in msg and "152" in msg and "19 classes x 8 decoder channels" in msg


@pytest.mark.parametrize("write,says", [
    (lambda p: np.savez(p, centers=np.zeros((3, 152), np.float32)), "no array 'anchors' (it holds: centers)"),
    (lambda p: np.savez(p, anchors=np.zeros(152, np.float32)), "shape (152,)"),
    (lambda p: p.write_bytes(b"\x00" * 64), "not a readable .npz"),
    (lambda p: None, "does not exist"),
])
def test_bad_anchors_file(tmp_path, write, says):
    path = tmp_path / "anchors.npz"
    write(path)
    with pytest.raises(InputFileError) as err:
        read_anchors(path, 19, 8)
    assert says in _one_line_naming(err, path)


def test_good_anchors_load(tmp_path):
    path = tmp_path / "anchors.npz"
    np.savez(path, anchors=np.ones((3, 152), np.float32))
    ctx = _anchor_ctx(tmp_path)
    a = load_anchors(ctx, str(path))
    assert a.shape == (3, 152) and ctx.state["anchors"] is a


# --- resume fingerprints: Checkpointer itself ----------------------------------------------------

def _linear_state(seed):
    torch.manual_seed(seed)
    lin = torch.nn.Linear(3, 2)
    return {"model": lin, "optimizer": torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)}


def test_matching_partial_resumes(tmp_path):
    fp = {"config": {"train": "abc"}, "iterations": 8}
    a = Checkpointer(tmp_path / "out.pt", 2, fingerprint=fp)
    state = _linear_state(0)
    a.maybe_save(state, 4, 8)
    other = _linear_state(1)
    assert Checkpointer(tmp_path / "out.pt", 2, fingerprint=copy.deepcopy(fp)).resume(other) == 4
    assert torch.equal(other["model"].weight, state["model"].weight)


def test_stale_partial_is_moved_aside_with_a_warning(tmp_path, caplog):
    out = tmp_path / "out.pt"
    partial = tmp_path / "out.pt.partial.pt"
    old = {"config": {"train": "abc", "seed": "s"}, "iterations": 12, "model_cfg": TINY_MODEL}
    for n, new in enumerate([dict(old, iterations=8), dict(old, model_cfg=dict(TINY_MODEL, backbone="resnet34"))], 1):
        Checkpointer(out, 2, fingerprint=old).maybe_save(_linear_state(0), 6, 12)
        fresh = _linear_state(1)
        w = fresh["model"].weight.clone()
        with caplog.at_level(logging.WARNING, logger="adaseg"):
            assert Checkpointer(out, 2, fingerprint=new).resume(fresh) == 0
        assert torch.equal(fresh["model"].weight, w)        # untouched: the run starts over
        assert not partial.exists() and (tmp_path / f"out.pt.partial.pt.stale-{n}").is_file()
        assert load_torch(tmp_path / f"out.pt.partial.pt.stale-{n}")["iteration"] == 6  # kept, not deleted
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all(str(partial) in w for w in warnings)
    assert "iterations differ" in warnings[0] and "model_cfg.backbone differ" in warnings[1]


def test_partial_without_fingerprint_or_unreadable_starts_over(tmp_path, caplog):
    out = tmp_path / "out.pt"
    partial = tmp_path / "out.pt.partial.pt"
    save_torch(partial, dict(Checkpointer._snapshot(_linear_state(0)), iteration=4))  # an older adaseg's partial
    with caplog.at_level(logging.WARNING, logger="adaseg"):
        assert Checkpointer(out, 2, fingerprint={"iterations": 8}).resume(_linear_state(1)) == 0
        partial.write_bytes(b"garbage")
        assert Checkpointer(out, 2, fingerprint={"iterations": 8}).resume(_linear_state(1)) == 0
    assert (tmp_path / "out.pt.partial.pt.stale-1").is_file() and (tmp_path / "out.pt.partial.pt.stale-2").is_file()
    text = caplog.text
    assert "records no fingerprint" in text and "unreadable" in text


def test_fingerprint_fields(tmp_path):
    cfg = tiny_config(tmp_path)
    init, sel = tmp_path / "init.pt", tmp_path / "selection.json"
    init.write_bytes(b"weights")
    sel.write_text("{}")

    def fp(c):
        return run_fingerprint(c, ("seed", "train", "finetune", "ripu"), ["gta5", "cityscapes"], stage="finetune_ripu",
                               iterations=3, model_cfg=TINY_MODEL, init=init,
                               files={"selection": sel, "masks": None}, objective="ripu", round=(1, 2))

    base = fp(cfg)
    assert set(base) == {"config", "stage", "iterations", "model_cfg", "init", "selection", "masks", "objective",
                         "round"}
    assert set(base["config"]) == {"seed", "train", "finetune", "ripu", "datasets"}
    assert fingerprint_differences(base, fp(copy.deepcopy(cfg))) == []
    cached = copy.deepcopy(cfg)
    cached["datasets"]["gta5"]["cache"] = True                     # same pixels: the same run
    assert fingerprint_differences(base, fp(cached)) == []
    resources = copy.deepcopy(cfg)
    resources["train"].update(mem_mb=64000, workers=4, prefetch=8, checkpoint_every=100)  # no effect on weights
    assert fingerprint_differences(base, fp(resources)) == []
    lr = copy.deepcopy(cfg)
    lr["finetune"]["stage1"]["lr"] = 0.1
    assert fingerprint_differences(base, fp(lr)) == ["config.finetune"]
    init.write_bytes(b"other weights")
    sel.write_text('{"selected": []}')
    assert fingerprint_differences(base, fp(cfg)) == ["init.sha256", "selection.sha256"]


# --- resume fingerprints: real training runs ------------------------------------------------------

class Killed(Exception):
    """Stands for SIGKILL right after a resume file was written."""


def _warmup_cfg(tmp_path, proxy_config, iterations):
    cfg = tiny_config(tmp_path)
    cfg["datasets"] = copy.deepcopy(proxy_config["datasets"])
    cfg["warmup"]["iterations"] = iterations
    cfg["train"]["checkpoint_every"] = 2
    cfg["train"]["workers"] = 0
    return for_seed(validate_config(cfg), None)


def _interrupt(monkeypatch, run, at: int) -> None:
    """Run `run` until it has written its partial file at iteration `at`, then stop it there."""
    save = Checkpointer.maybe_save

    def maybe_save(self, state, done, total):
        save(self, state, done, total)
        if done == at:
            raise Killed(done)

    with monkeypatch.context() as m, pytest.raises(Killed):
        m.setattr(Checkpointer, "maybe_save", maybe_save)
        run()


def _stale_restart(tmp_path, monkeypatch, caplog, old, new, at, field):
    """Interrupt a source-only warm-up with config `old` after its partial file at iteration `at`,
    rerun it with config `new`, and check that it started over: the warning, the stale file moved
    aside, the final checkpoint byte-identical to a fresh run of `new`. Returns the checkpoint."""
    from adaseg.train.warmup import train_warmup

    out = tmp_path / "warmup.pt"
    partial = tmp_path / "warmup.pt.partial.pt"
    _interrupt(monkeypatch, lambda: train_warmup(old, "source_only", "gta5", "cityscapes", str(out), threads=1), at)
    assert load_torch(partial)["iteration"] == at and not out.exists()
    with caplog.at_level(logging.INFO, logger="adaseg"):
        train_warmup(new, "source_only", "gta5", "cityscapes", str(out), threads=1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(partial) in warnings[0] and field in warnings[0], warnings
    assert "resumed" not in caplog.text
    stale = tmp_path / "warmup.pt.partial.pt.stale-1"
    assert stale.is_file() and load_torch(stale)["iteration"] == at and not partial.exists()
    ref = tmp_path / "fresh.pt"
    train_warmup(new, "source_only", "gta5", "cityscapes", str(ref), threads=1)
    assert out.read_bytes() == ref.read_bytes()   # the same as a run that never saw the stale file
    return load_torch(out)


def _lower_lr(cfg):
    cfg["warmup"]["lr"] = 0.02


def _fewer_iterations(cfg):
    # the partial file is at iteration 4 of 6; the rerun asks for 3: without the fingerprint it
    # would write "3 iterations" holding 4 iterations of another schedule
    cfg["warmup"]["iterations"] = 3


def _narrower_decoder(cfg):
    cfg["model"]["decoder_channels"] = 16


@pytest.mark.slow
@pytest.mark.parametrize("change, iterations, killed_at, field, trained", [
    (_lower_lr, 4, 2, "config.warmup", 4),
    (_fewer_iterations, 6, 4, "iterations", 3),
    (_narrower_decoder, 3, 2, "model_cfg.decoder_channels", 3),
], ids=["lr", "iterations", "architecture"])
def test_a_changed_run_after_a_kill_starts_over(change, iterations, killed_at, field, trained,
                                                tmp_path, monkeypatch, caplog, proxy_config):
    old = _warmup_cfg(tmp_path, proxy_config, iterations)
    new = copy.deepcopy(old)
    change(new)
    ck = _stale_restart(tmp_path, monkeypatch, caplog, old, new, killed_at, field)
    assert ck["iteration"] == trained
    model, meta = load_model(tmp_path / "warmup.pt")
    width = new["model"]["decoder_channels"]
    assert meta["model_cfg"]["decoder_channels"] == width and model.feature_dim == width


@pytest.fixture
def finetune_inputs(tmp_path, proxy_config):
    """A tiny config with the proxy datasets, a random selection of the target, and an init
    checkpoint with a resnet34 backbone (the config says resnet18)."""
    from adaseg.select.run import run_selection

    cfg = _warmup_cfg(tmp_path, proxy_config, 2)
    cfg["finetune"]["stage1"]["iterations"] = 3
    sel = tmp_path / "selection.json"
    run_selection(cfg, strategy="random", target="cityscapes", budget_percent=50, out=sel)
    init = tmp_path / "init.pt"
    torch.manual_seed(0)
    init_model = dict(cfg["model"], backbone="resnet34")
    save_torch(init, {"model": build_model(init_model, 19).state_dict(), "iteration": 2,
                      "meta": checkpoint_meta(cfg, 19, "cityscapes19", model_cfg=init_model,
                                              stage="warmup_source_only", source="gta5")})
    return cfg, init, sel


def _finetune(cfg, init, sel, out):
    from adaseg.train.finetune import finetune

    finetune(cfg, objective="stage1", init=str(init), selection=str(sel), source="gta5", target="cityscapes",
             out=str(out), threads=1)


@pytest.mark.slow
def test_finetune_keeps_the_init_architecture_and_resumes_by_fingerprint(tmp_path, monkeypatch, caplog,
                                                                         finetune_inputs):
    cfg, init, sel = finetune_inputs
    assert cfg["model"]["backbone"] == "resnet18"
    out = tmp_path / "stage1.pt"
    partial = tmp_path / "stage1.pt.partial.pt"
    # a matching partial file resumes
    _interrupt(monkeypatch, lambda: _finetune(cfg, init, sel, out), 2)
    with caplog.at_level(logging.INFO, logger="adaseg"):
        _finetune(cfg, init, sel, out)
    assert f"resumed {partial} at iteration 2" in caplog.text
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    # the fine-tuned checkpoint holds and records the init's resnet34, loadable as such
    model, meta = load_model(out)
    assert meta["model_cfg"]["backbone"] == "resnet34" and meta["stage"] == "finetune_stage1"
    assert meta["num_classes"] == 19 and meta["label_space"] == "cityscapes19"
    assert len(model.backbone.layer1) == 3                          # resnet34: 3 blocks (resnet18: 2)
    assert load_torch(out)["iteration"] == 3

    # another selection after a kill: the stale partial file is moved aside
    out.unlink()
    caplog.clear()
    _interrupt(monkeypatch, lambda: _finetune(cfg, init, sel, out), 2)
    s = sel.read_text()
    sel.write_text(s.replace('"budget_pixels"', '"note": "edited", "budget_pixels"'))
    with caplog.at_level(logging.INFO, logger="adaseg"):
        _finetune(cfg, init, sel, out)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(partial) in warnings[0] and "selection.sha256" in warnings[0], warnings
    assert (tmp_path / "stage1.pt.partial.pt.stale-1").is_file() and out.is_file()
