"""Bad configs, datasets and stage files: each is refused with a one-line adaseg error naming the
config key or the file (and the fix): unknown or misspelled keys (also inside variants), names that
would reach a shell line, evaluation on the training split, YTE-templated configs, synth clearing a
folder it did not write, labels of another size than their image, unreadable images, mixed image
sizes, truncated / non-HDF5 / foreign HDF5 dumps, masks and caches, truncated JSON. The slow tests
run Snakemake on a copy of the workflow with a shell-injection dataset name and results path (and
a results path with spaces) and check that nothing is executed and that a small target runs."""
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import yaml
from PIL import Image

from adaseg.config import apply_variant, load_config, validate_config
from adaseg.errors import AdasegError, ConfigError, DatasetError, InputFileError
from adaseg.io import ProcessLocalH5, open_masks, read_features, read_json, write_ids
from conftest import ROOT, cli_env, tiny_config, workflow_copy, write_config

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


def _rename_dataset(new):
    def change(cfg):
        cfg["datasets"][new] = cfg["datasets"].pop("gta5")
    return change


CONFIG_CASES = {
    # (change, needles of the message)
    "unknown top-level key": (_set(["sead"], 1), ["sead", "did you mean 'seed'"]),
    "misspelled train key": (_set(["train", "aux_wieght"], 0.1), ["train.aux_wieght", "did you mean 'aux_weight'"]),
    "misspelled dataset key": (_set(["datasets", "gta5", "roots"], "x"), ["datasets.gta5.roots", "'root'"]),
    "misspelled proxy count": (_set(["proxy", "counts", "cityscape_val"], 3), ["proxy.counts.cityscape_val", "cityscapes_val"]),
    "misspelled warm-up key": (_set(["warmup", "adaptseg", "disc_widht"], 4), ["warmup.adaptseg.disc_widht", "disc_width"]),
    "misspelled stage key": (_set(["finetune", "stage1", "iteration"], 4), ["finetune.stage1.iteration", "iterations"]),
    "misspelled mcu key": (_set(["mcu", "gama"], 0.5), ["mcu.gama", "gamma"]),
    "unknown evaluation key": (_set(["evaluation", "flipp"], True), ["evaluation.flipp", "flip"]),
    "variant with a misspelled key": (_set(["variants"], {"mine": {"train": {"aux_wieght": 0.1}}}),
                                      ["variants.mine.train.aux_wieght", "aux_weight"]),
    "variant with an unknown section": (_set(["variants"], {"mine": {"sead": 1}}), ["variants.mine", "sead", "'seed'"]),
    "variant with a bad value": (_set(["variants"], {"mine": {"ripu": {"negative_weight": -1}}}),
                                 ["variants.mine.ripu.negative_weight"]),
    "variant that is not a mapping": (_set(["variants"], {"mine": 3}), ["variants.mine"]),
    "variant name with shell characters": (_set(["variants"], {"a;b": {"seed": 1}}), ["variants", "'a;b'"]),
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
