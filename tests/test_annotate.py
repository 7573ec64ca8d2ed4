"""adaseg.annotate (oracle: labelstudio) without a server: the brush RLE codec, the class list, the
Label Studio tasks and labelling interface, the round's asks, the import of annotations (checked,
written as label files and masks), the CVAT zip, and the dataset option `labels: none`.
Every case is small and hand-computed; the end-to-end run against a real Label Studio is
tests/test_annotate_labelstudio.py (slow)."""
import base64
import copy
import io
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from adaseg.annotate import imported, tasks
from adaseg.annotate.asks import Ask, round_asks
from adaseg.annotate.classes import CITYSCAPES_LABELIDS, annotation_classes
from adaseg.annotate.cvat import write_cvat_zip
from adaseg.annotate.labelstudio import LabelStudioError, server_from_env
from adaseg.annotate.rle import RLEError, decode_mask, encode_mask
from adaseg.config import validate_config
from adaseg.data.datasets import open_dataset, resize_nearest, with_label_files
from adaseg.errors import ConfigError, DatasetError, InputFileError
from adaseg.io import create_planes, open_masks, plane, write_ids, write_plane
from adaseg.select.selection_list import write_selection
from conftest import tiny_config, write_masks

CLASSES = CITYSCAPES_LABELIDS
NAME = {c.id: c.name for c in CLASSES}


def _bits(value: int, width: int) -> str:
    return format(value, f"0{width}b")


def _pack(bits: str) -> list[int]:
    bits += "0" * (-len(bits) % 8)
    return [int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)]


def _header(n_values: int) -> str:
    """rle-pack's header: value count, word size 8 (stored 7), run fields 3, 4, 8, 16 bits (stored - 1)."""
    return _bits(n_values, 32) + _bits(7, 5) + "".join(_bits(b - 1, 4) for b in (3, 4, 8, 16))


def _masks_file(path, planes: dict) -> str:
    """A masks.h5 holding the given id -> bool plane (each at its own size)."""
    ids = list(planes)
    with h5py.File(path, "w") as h5:
        write_ids(h5, ids)
        dset = create_planes(h5, "masks", [planes[s].shape for s in ids], "u1")
        for r, s in enumerate(ids):
            write_plane(dset, r, planes[s].astype(np.uint8))
    return str(path)


def _read_masks(path) -> dict:
    with open_masks(path) as (ids, masks):
        return {s: plane(masks, r).astype(bool) for r, s in enumerate(ids)}


# --- rle ------------------------------------------------------------------------------------------

def _masks_for_round_trip():
    rng = np.random.default_rng(0)
    long_runs = np.zeros((300, 100), bool)
    long_runs[:200] = True  # a run of 80 000 values, then one of 40 000: longer than one 16-bit field
    stripes = np.zeros((5, 7), bool)
    stripes[:, ::2] = True
    return {"empty": np.zeros((4, 6), bool), "full": np.ones((4, 6), bool),
            "random": rng.random((17, 23)) < 0.5, "1x1 set": np.ones((1, 1), bool),
            "1x1 unset": np.zeros((1, 1), bool), "stripes": stripes, "long runs": long_runs,
            "full long": np.ones((200, 200), bool),
            "one longest field": np.ones((128, 128), bool),  # 65 536 values: exactly one 16-bit run
            "two longest fields": np.ones((256, 128), bool)}


@pytest.mark.parametrize("name", list(_masks_for_round_trip()))
def test_rle_round_trip(name):
    mask = _masks_for_round_trip()[name]
    code = encode_mask(mask)
    assert all(isinstance(v, int) and 0 <= v <= 255 for v in code)
    h, w = mask.shape
    bits = "".join(_bits(v, 8) for v in code)
    assert int(bits[:32], 2) == h * w * 4 and int(bits[32:37], 2) == 7
    np.testing.assert_array_equal(decode_mask(code, h, w), mask)


def test_rle_code_of_one_set_pixel_by_hand():
    # header (53 bits), then one run record: flag 1, field 0 (3 bits), length 4 - 1 = 3, value 255
    bits = _header(4) + "1" + "00" + "011" + _bits(255, 8)
    assert _pack(bits) == [0, 0, 0, 4, 57, 27, 252, 127, 224]
    assert encode_mask(np.ones((1, 1), bool)) == [0, 0, 0, 4, 57, 27, 252, 127, 224]


def test_rle_splits_runs_at_the_longest_field():
    # 65 536 values fit one run record (flag, field 3, 16 bits of length - 1, the value): 53 + 27 bits
    one = encode_mask(np.ones((128, 128), bool))
    assert one == _pack(_header(65536) + "1" + "11" + _bits(65535, 16) + _bits(255, 8))
    assert len(one) == 10
    # 131 072 values: two such records (53 + 54 bits, 14 bytes); 65 540: a full one and one of 4
    assert encode_mask(np.ones((256, 128), bool)) == _pack(_header(131072) + 2 * ("1" + "11" + _bits(65535, 16)
                                                                                   + _bits(255, 8)))
    longer = np.ones((1, 16385), bool)
    assert encode_mask(longer) == _pack(_header(65540) + "1" + "11" + _bits(65535, 16) + _bits(255, 8)
                                        + "1" + "00" + "011" + _bits(255, 8))
    np.testing.assert_array_equal(decode_mask(encode_mask(longer), 1, 16385), longer)


def test_rle_decode_refuses_another_size_and_a_truncated_code():
    mask = np.zeros((6, 8), bool)
    mask[2:4, 3:7] = True
    code = encode_mask(mask)
    with pytest.raises(RLEError, match="another size"):
        decode_mask(code, 7, 8)
    with pytest.raises(RLEError):
        decode_mask(code[:len(code) // 2], 6, 8)
    with pytest.raises(RLEError):
        decode_mask(encode_mask(np.ones((1, 1), bool))[:-1], 1, 1)
    with pytest.raises(RLEError):
        decode_mask([0, 0, 0], 1, 1)  # shorter than a header
    with pytest.raises(RLEError):
        decode_mask([0, 0, 0, 4, 300, 0, 0], 1, 1)  # not byte values
    with pytest.raises(ValueError, match="empty"):
        encode_mask(np.zeros((0, 5), bool))


def test_rle_decode_reads_literals_and_partial_alpha():
    # a 1x2 image: pixel 0 a literal record (flag 0, field 0, 4 values) with alpha 100, pixel 1 a run of 200
    bits = (_header(8) + "0" + "00" + "011" + "".join(_bits(v, 8) for v in (255, 255, 255, 100))
            + "1" + "00" + "011" + _bits(200, 8))
    code = _pack(bits)
    np.testing.assert_array_equal(decode_mask(code, 1, 2), [[False, True]])
    np.testing.assert_array_equal(decode_mask(code, 1, 2, threshold=100), [[True, True]])
    np.testing.assert_array_equal(decode_mask(code, 1, 2, threshold=201), [[False, False]])


# --- classes --------------------------------------------------------------------------------------

def test_cityscapes_label_ids():
    classes = annotation_classes("cityscapes")
    assert [c.id for c in classes] == list(range(34))
    assert len({c.name for c in classes}) == 34
    assert NAME[7] == "road" and NAME[26] == "car" and NAME[33] == "bicycle" and NAME[0] == "unlabeled"
    assert annotation_classes("gta5") == classes
    assert classes[7].hex == "#804080"
    with pytest.raises(ConfigError, match="synthia"):
        annotation_classes("synthia", "synthia")


# --- tasks ----------------------------------------------------------------------------------------

def test_label_config_is_xml_with_every_class():
    root = ET.fromstring(tasks.label_config(CLASSES))
    brushes = {b.get("name"): b for b in root.iter("BrushLabels")}
    assert set(brushes) == {"label", "asked"}
    labels = brushes["label"].findall("Label")
    assert [lab.get("value") for lab in labels] == [c.name for c in CLASSES]
    assert len(labels) == 34
    assert labels[7].get("background") == "#804080"
    assert [lab.get("value") for lab in brushes["asked"].findall("Label")] == ["asked for"]
    assert all(b.get("toName") == "image" for b in brushes.values())
    assert root.find("Image").get("name") == "image"


def _decoded(result: dict) -> np.ndarray:
    return decode_mask(result["value"]["rle"], result["original_height"], result["original_width"])


def test_make_task_predicts_on_asked_pixels_only(tmp_path):
    asked = np.zeros((4, 6), bool)
    asked[1:3, 1:5] = True
    pred = np.full((4, 6), 11, np.uint8)  # building, only outside the ask
    pred[1:3, 1:3] = 7  # road
    pred[1:3, 3:5] = 26  # car
    pred[2, 4] = 23  # sky
    ask = Ask("img0", 0, tmp_path / "img0.png", asked, "region")
    task = tasks.make_task(ask, pred, CLASSES, "data:image/png;base64,AA==", "round1")
    assert task["data"] == {"image": "data:image/png;base64,AA==", "adaseg_id": "img0", "adaseg_unit": "region",
                            "asked_pixels": 8}
    (prediction,) = task["predictions"]
    assert prediction["model_version"] == "round1"
    labels = [r for r in prediction["result"] if r["from_name"] == "label"]
    assert sorted(r["value"]["brushlabels"][0] for r in labels) == ["car", "road", "sky"]
    union = np.zeros_like(asked)
    for r in labels:
        assert r["to_name"] == "image" and r["type"] == "brushlabels"
        assert (r["original_height"], r["original_width"]) == (4, 6)
        cid = next(c.id for c in CLASSES if c.name == r["value"]["brushlabels"][0])
        m = _decoded(r)
        np.testing.assert_array_equal(m, asked & (pred == cid))
        assert not (m & union).any()
        union |= m
    np.testing.assert_array_equal(union, asked)
    (marker,) = [r for r in prediction["result"] if r["from_name"] == "asked"]
    assert marker["value"]["brushlabels"] == ["asked for"]
    np.testing.assert_array_equal(_decoded(marker), asked)

    whole = Ask("img0", 0, tmp_path / "img0.png", np.ones((4, 6), bool), "image")
    result = tasks.make_task(whole, pred, CLASSES, "x", "round1")["predictions"][0]["result"]
    assert {r["from_name"] for r in result} == {"label"}
    assert sorted(r["value"]["brushlabels"][0] for r in result) == ["building", "car", "road", "sky"]


def test_image_reference(tmp_path):
    root = tmp_path / "cityscapes"
    img = root / "leftImg8bit" / "train" / "aachen" / "a_leftImg8bit.png"
    img.parent.mkdir(parents=True)
    Image.fromarray(np.arange(24, dtype=np.uint8).reshape(4, 6)).save(img)
    url = tasks.image_reference(img, root, "http://ls/data/local-files/?d={path}&r={relpath}")
    assert url == (f"http://ls/data/local-files/?d={str(img.resolve()).lstrip('/')}"
                   "&r=leftImg8bit/train/aachen/a_leftImg8bit.png")
    uri = tasks.image_reference(img, root, None)
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    assert base64.b64decode(uri[len(prefix):]) == img.read_bytes()


# --- import of annotations (imported.write_round_labels) ------------------------------------------

@pytest.fixture
def target(proxy_config):
    """The proxy Cityscapes train split (with its label files, to play the annotator)."""
    return open_dataset(copy.deepcopy(proxy_config), "cityscapes", "train")


def _gt(ds, i) -> np.ndarray:
    return np.asarray(Image.open(ds.samples[i].label))


def _rect_ask(ds, i, rows, cols) -> Ask:
    asked = np.zeros(ds.raw_size(i), bool)
    asked[rows, cols] = True
    return Ask(ds.ids[i], i, ds.samples[i].image, asked, "region")


def _annotation(ds, ask, tid, outside: str | None = None) -> dict:
    """A task of Label Studio's JSON export, annotated with the ground truth on the asked-for pixels
    (and, with `outside`, that class painted on every other pixel, which the import must not read)."""
    gt = _gt(ds, ask.index)
    result = [tasks.brush_result(ask.asked & (gt == cid), "label", NAME[int(cid)], f"r{int(cid)}")
              for cid in np.unique(gt[ask.asked])]
    result.append(tasks.brush_result(ask.asked, "asked", "asked for", "asked"))  # not read back
    if outside:
        result.append(tasks.brush_result(~ask.asked, "label", outside, "outside"))
    return {"id": tid, "data": {"adaseg_id": ask.id, "image": "x"},
            "annotations": [{"id": 100 + tid, "was_cancelled": False, "result": result}]}


def _round1(ds):
    asks = [_rect_ask(ds, 0, slice(2, 10), slice(5, 30)), _rect_ask(ds, 2, slice(0, 32), slice(40, 64)),
            _rect_ask(ds, 4, slice(20, 25), slice(0, 64))]
    return asks, [_annotation(ds, a, 1 + k, outside="sky" if k == 0 else None) for k, a in enumerate(asks)]


def _expected(ds, i, asked) -> np.ndarray:
    return np.where(asked, _gt(ds, i), 0).astype(np.uint8)


def test_import_writes_labels_and_masks(target, tmp_path):
    ds = target
    asks, export = _round1(ds)
    labels, masks = tmp_path / "r1" / "labels", tmp_path / "r1" / "masks.h5"
    counts = imported.write_round_labels(ds, asks, export, CLASSES, "export.json", labels, masks)
    assert counts == {"images": 3, "asked_pixels": 8 * 25 + 32 * 24 + 5 * 64, "labelled_images": 3}
    assert sorted(p.name for p in labels.iterdir()) == sorted(f"{a.id}.png" for a in asks)
    for a in asks:
        got = np.asarray(Image.open(labels / f"{a.id}.png"))
        assert got.dtype == np.uint8 and got.shape == (32, 64)
        assert (_gt(ds, a.index)[a.asked] > 0).any()
        np.testing.assert_array_equal(got, _expected(ds, a.index, a.asked))
    got_masks = _read_masks(masks)
    assert list(got_masks) == [a.id for a in asks]  # in the dataset's order
    for a in asks:
        np.testing.assert_array_equal(got_masks[a.id], a.asked)
    assert not (tmp_path / "r1" / "labels.partial").exists()

    # a second round: the previous round's pixels are kept, the new ones added, masks are the union
    asks2 = [_rect_ask(ds, 0, slice(20, 30), slice(0, 20)), _rect_ask(ds, 3, slice(0, 4), slice(0, 64))]
    export2 = [_annotation(ds, a, 11 + k) for k, a in enumerate(asks2)]
    labels2, masks2 = tmp_path / "r2" / "labels", tmp_path / "r2" / "masks.h5"
    counts = imported.write_round_labels(ds, asks2, export2, CLASSES, "export2.json", labels2, masks2,
                                         previous_labels=labels, previous_masks=str(masks))
    assert counts == {"images": 2, "asked_pixels": 10 * 20 + 4 * 64, "labelled_images": 4}
    union = {a.id: a.asked.copy() for a in asks}
    for a in asks2:
        union[a.id] = union.get(a.id, np.zeros((32, 64), bool)) | a.asked
    assert sorted(p.name for p in labels2.iterdir()) == sorted(f"{s}.png" for s in union)
    pos = {s: i for i, s in enumerate(ds.ids)}
    for s, m in union.items():
        np.testing.assert_array_equal(np.asarray(Image.open(labels2 / f"{s}.png")), _expected(ds, pos[s], m))
    got_masks = _read_masks(masks2)
    assert list(got_masks) == sorted(union, key=pos.__getitem__)
    for s, m in union.items():
        np.testing.assert_array_equal(got_masks[s], m)
    # the first round's outputs are untouched
    np.testing.assert_array_equal(np.asarray(Image.open(labels / f"{ds.ids[0]}.png")),
                                  _expected(ds, 0, asks[0].asked))


def test_import_reads_the_newest_submitted_annotation(target, tmp_path):
    ds = target
    asks, export = _round1(ds)
    good = export[1]["annotations"][0]
    skipped = {"id": 900, "was_cancelled": True, "result": []}
    older = {"id": 50, "was_cancelled": False, "updated_at": "2024-01-01T00:00:00Z",
             "result": [tasks.brush_result(np.ones((32, 64), bool), "label", "sky", "s")]}
    export[1]["annotations"] = [older, skipped, dict(good, updated_at="2024-02-01T00:00:00Z")]
    imported.write_round_labels(ds, asks, export, CLASSES, "export.json", tmp_path / "labels", tmp_path / "m.h5")
    a = asks[1]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "labels" / f"{a.id}.png")),
                                  _expected(ds, a.index, a.asked))


def _missing_task(ds, asks, export):
    del export[1]
    return asks[1].id, None, "no task for image"


def _foreign_class(ds, asks, export):
    export[0]["annotations"][0]["result"][0]["value"]["brushlabels"] = ["tree"]
    return asks[0].id, 1, "'tree' is not in the label space"


def _unpainted(ds, asks, export):
    result = export[2]["annotations"][0]["result"]
    first = next(r for r in result if r["from_name"] == "label")
    result.remove(first)
    return asks[2].id, 3, "asked-for pixels have no class"


def _unasked_image(ds, asks, export):
    extra = _annotation(ds, _rect_ask(ds, 5, slice(0, 2), slice(0, 2)), 77)
    export.append(extra)
    return ds.ids[5], 77, "did not ask for"


def _two_classes(ds, asks, export):
    a = asks[1]
    export[1]["annotations"][0]["result"].append(tasks.brush_result(a.asked, "label", "bicycle", "x"))
    return a.id, 2, "painted both"


def _cancelled(ds, asks, export):
    export[0]["annotations"][0]["was_cancelled"] = True
    return asks[0].id, 1, "no submitted annotation"


def _duplicate_task(ds, asks, export):
    export.append(dict(copy.deepcopy(export[2]), id=9))
    return asks[2].id, 9, "are both for image"


def _other_size(ds, asks, export):
    region = next(r for r in export[0]["annotations"][0]["result"] if r["from_name"] == "label")
    region["original_width"] = 32
    return asks[0].id, 1, "32x32 image"


def _damaged_rle(ds, asks, export):
    region = next(r for r in export[2]["annotations"][0]["result"] if r["from_name"] == "label")
    region["value"]["rle"] = region["value"]["rle"][:9]
    return asks[2].id, 3, "cannot be decoded"


def _region_without_value(ds, asks, export):
    region = next(r for r in export[1]["annotations"][0]["result"] if r["from_name"] == "label")
    region["value"] = None
    export[1]["annotations"][0]["result"].append({"from_name": "label", "type": None})  # skipped: not a brush
    return asks[1].id, 2, "has no 'value' object"


def _result_not_a_region(ds, asks, export):
    export[0]["annotations"][0]["result"].insert(0, "brushlabels")
    return asks[0].id, 1, "not a region object"


BAD_EXPORTS = [_missing_task, _foreign_class, _unpainted, _unasked_image, _two_classes, _cancelled,
               _duplicate_task, _other_size, _damaged_rle, _region_without_value, _result_not_a_region]


@pytest.mark.parametrize("spoil", BAD_EXPORTS, ids=[f.__name__.strip("_") for f in BAD_EXPORTS])
def test_import_refuses_bad_annotations(target, tmp_path, spoil):
    ds = target
    asks, export = _round1(ds)
    image_id, task_id, needle = spoil(ds, asks, export)
    labels, masks = tmp_path / "out" / "labels", tmp_path / "out" / "masks.h5"
    with pytest.raises(imported.AnnotationError) as e:
        imported.write_round_labels(ds, asks, export, CLASSES, "export.json", labels, masks)
    msg = str(e.value)
    assert isinstance(e.value, InputFileError)
    assert "\n" not in msg and msg.startswith("export.json: ")
    assert needle in msg and image_id in msg, msg
    if task_id is not None:
        assert re.search(rf"\btasks? (\d+ and )?{task_id}\b", msg), msg
    assert not labels.exists() and not masks.exists() and not (tmp_path / "out").exists()


# --- asks -----------------------------------------------------------------------------------------

def _selection(path, ids, mask_file=None, strategy="ripu_ra") -> str:
    sel = {"strategy": strategy, "selected": [{"id": s} for s in ids], "budget_pixels": 100}
    if mask_file:
        sel["mask_file"] = str(mask_file)
    write_selection(path, sel)
    return str(path)


def test_round_asks_of_a_region_selection(proxy_config, tmp_path):
    ds = open_dataset(copy.deepcopy(proxy_config), "cityscapes", "train", with_labels=False)
    ids = ds.ids
    current = write_masks(tmp_path / "masks.h5", ids, fill_fraction=0.5)  # rows 0..15 of every image
    top = np.zeros((32, 64), bool)
    top[:8] = True
    half = np.zeros((32, 64), bool)
    half[:16] = True
    previous = _masks_file(tmp_path / "previous.h5", {ids[1]: top, ids[3]: half})
    order = [ids[3], ids[1], ids[0]]  # the selection's order, not the dataset's
    sel = _selection(tmp_path / "selection.json", order, mask_file=current)
    asks = round_asks(ds, sel, previous)
    assert [a.id for a in asks] == [ids[1], ids[0]]  # ids[3] has no new pixels
    assert [a.index for a in asks] == [1, 0]
    assert all(a.unit == "region" and a.size == (32, 64) for a in asks)
    assert asks[0].image == ds.samples[1].image
    new = half & ~top
    np.testing.assert_array_equal(asks[0].asked, new)
    np.testing.assert_array_equal(asks[1].asked, half)
    # without a previous round every selected image's mask is asked
    assert [a.id for a in round_asks(ds, sel)] == order

    # an image selection (no mask_file) asks every pixel
    image_sel = _selection(tmp_path / "images.json", [ids[2], ids[5]], strategy="random")
    asks = round_asks(ds, image_sel, previous)
    assert [a.id for a in asks] == [ids[2], ids[5]]
    for a in asks:
        assert a.unit == "image" and a.asked.shape == (32, 64) and a.asked.all()

    # a selection of another target, and a masks file without a selected image
    with pytest.raises(InputFileError, match="not in the target"):
        round_asks(ds, _selection(tmp_path / "foreign.json", ["00001"]))
    with pytest.raises(InputFileError, match="has no mask for image"):
        round_asks(ds, _selection(tmp_path / "short.json", ids[:2], mask_file=write_masks(tmp_path / "m1.h5", ids[:1])))


def test_round_asks_at_the_image_file_size(proxy_config, tmp_path):
    cfg = copy.deepcopy(proxy_config)
    cfg["datasets"]["cityscapes"]["resize"] = [16, 32]
    ds = open_dataset(cfg, "cityscapes", "train", with_labels=False)
    current = write_masks(tmp_path / "masks.h5", ds.ids[:1], fill_fraction=0.25, size=(16, 32))  # rows 0..3
    (ask,) = round_asks(ds, _selection(tmp_path / "selection.json", ds.ids[:1], mask_file=current))
    at_read_size = resize_nearest(ask.asked, (16, 32))
    assert at_read_size[:4].all() and not at_read_size[4:].any()
    assert ask.asked.shape == (32, 64) and ask.asked[:8].all() and not ask.asked[8:].any()
    (whole,) = round_asks(ds, _selection(tmp_path / "images.json", ds.ids[:1]))
    assert whole.asked.shape == (32, 64) and whole.asked.all()


def test_resize_nearest_takes_a_mask_back_to_its_size():
    """Asks are a selection mask brought to the image file's size; fine-tuning brings the annotated
    mask back to the read size: for any file size at least the read size that is the selection's mask."""
    rng = np.random.default_rng(1)
    read = rng.random((10, 16)) < 0.3
    for file_size in [(10, 16), (20, 32), (16, 25), (13, 41), (37, 17)]:
        up = resize_nearest(read, file_size)
        assert up.shape == file_size and up.dtype == bool
        np.testing.assert_array_equal(resize_nearest(up, read.shape), read)
    # the same mapping as label files read at another size
    labels = rng.integers(0, 19, (13, 41)).astype(np.uint8)
    np.testing.assert_array_equal(resize_nearest(labels, (10, 16)),
                                  np.asarray(Image.fromarray(labels).resize((16, 10), Image.NEAREST)))


def test_import_at_the_image_file_size_when_images_are_read_smaller(proxy_config, tmp_path):
    """With datasets.<target>.resize, the selection's masks are at the read size but the imported
    labels and the labelled pixels (masks.h5) are at the image file's size; fine-tuning's masked
    labels are the annotated labels under the selection's own mask."""
    from adaseg.data.labels import IGNORE
    from adaseg.data.loader import H5Rows
    from adaseg.train.finetune import MaskedLabels

    cfg = copy.deepcopy(proxy_config)
    cfg["datasets"]["cityscapes"]["resize"] = [20, 40]  # files are 32x64: a factor of 1.6
    ds = open_dataset(cfg, "cityscapes", "train")
    rng = np.random.default_rng(2)
    picked = {ds.ids[1]: rng.random((20, 40)) < 0.2, ds.ids[3]: rng.random((20, 40)) < 0.2}
    current = _masks_file(tmp_path / "sel_masks.h5", picked)
    asks = round_asks(ds, _selection(tmp_path / "selection.json", list(picked), mask_file=current))
    export = [_annotation(ds, a, 1 + k) for k, a in enumerate(asks)]
    labels, masks = tmp_path / "labels", tmp_path / "masks.h5"
    imported.write_round_labels(ds, asks, export, CLASSES, "export.json", labels, masks)
    got = _read_masks(masks)
    for a in asks:
        assert got[a.id].shape == (32, 64) and np.asarray(Image.open(labels / f"{a.id}.png")).shape == (32, 64)
        np.testing.assert_array_equal(got[a.id], a.asked)
    annotated = with_label_files(open_dataset(cfg, "cityscapes", "train"), labels)
    with H5Rows(str(masks), "masks", list(picked)) as rows:
        masked = MaskedLabels(annotated, rows)
        for s, sel_mask in picked.items():
            i = ds.ids.index(s)
            lab = masked(i)
            assert lab.shape == (20, 40)
            np.testing.assert_array_equal(lab != IGNORE, sel_mask & (ds.label(i) != IGNORE))
            np.testing.assert_array_equal(lab[sel_mask], ds.label(i)[sel_mask])
    # a second round asks only what the first did not label, read at the selection's size
    more = {s: m | (rng.random((20, 40)) < 0.2) for s, m in picked.items()}
    asks2 = round_asks(ds, _selection(tmp_path / "selection2.json", list(more),
                                      mask_file=_masks_file(tmp_path / "sel_masks2.h5", more)), str(masks))
    for a in asks2:
        np.testing.assert_array_equal(resize_nearest(a.asked, (20, 40)), more[a.id] & ~picked[a.id])
    with pytest.raises(InputFileError, match="previous annotation round"):
        imported.write_round_labels(ds, asks2, [_annotation(ds, a, 5 + k) for k, a in enumerate(asks2)], CLASSES,
                                    "export2.json", tmp_path / "l2", tmp_path / "m2.h5", labels, current)


# --- CVAT -----------------------------------------------------------------------------------------

def test_cvat_zip(tmp_path):
    asked = np.zeros((4, 6), bool)
    asked[:2] = True
    pred = np.full((4, 6), 11, np.uint8)
    pred[0] = 7  # road
    pred[1, :3] = 18  # polegroup: pole's grey in Cityscapes
    pred[1, 3:] = 1  # ego vehicle: black in Cityscapes
    ask = Ask("a", 0, Path("/data/aachen_000000_000019_leftImg8bit.png"), asked, "region")
    ask2 = Ask("b", 1, Path("/data/bochum_1_leftImg8bit.png"), np.ones((2, 2), bool), "image")
    path = tmp_path / "cvat.zip"
    write_cvat_zip(path, [ask, ask2], {"a": pred, "b": np.full((2, 2), 26, np.uint8)}, CLASSES)
    with zipfile.ZipFile(path) as z:
        lines = z.read("labelmap.txt").decode().splitlines()
        assert lines[0] == "# label:color_rgb:parts:actions"
        assert len(lines) == 35
        colour = {}
        for line in lines[1:]:
            name, rgb, parts, actions = line.split(":")
            assert parts == actions == ""
            colour[name] = tuple(int(v) for v in rgb.split(","))
        assert len(colour) == 34 and len(set(colour.values())) == 34
        assert colour["background"] == (0, 0, 0) and colour["road"] == (128, 64, 128)
        assert colour["pole"] == (153, 153, 153) and colour["polegroup"] != colour["pole"]
        assert z.read("ImageSets/Segmentation/default.txt").decode() == \
            "aachen_000000_000019_leftImg8bit\nbochum_1_leftImg8bit\n"
        seg = np.asarray(Image.open(io.BytesIO(z.read("SegmentationClass/aachen_000000_000019_leftImg8bit.png"))))
        assert seg.shape == (4, 6, 3)
        assert (seg[0] == colour["road"]).all()
        assert (seg[1, :3] == colour["polegroup"]).all() and (seg[1, 3:] == colour["ego vehicle"]).all()
        assert (seg[2:] == 0).all()  # not asked: background, not the predicted building
        seg2 = np.asarray(Image.open(io.BytesIO(z.read("SegmentationClass/bochum_1_leftImg8bit.png"))))
        assert (seg2 == colour["car"]).all()
        marker = np.asarray(Image.open(io.BytesIO(z.read("asked/aachen_000000_000019_leftImg8bit.png"))))
        np.testing.assert_array_equal(marker, asked.astype(np.uint8) * 255)


# --- round, Label Studio client -------------------------------------------------------------------

def test_label_ids_of_label_spaces():
    from adaseg.annotate.round import label_ids_of

    c19 = label_ids_of("cityscapes19")
    assert len(c19) == 19 and c19[0] == 7 and c19[18] == 33 and c19[13] == 26
    s16 = label_ids_of("synthia16")
    assert len(s16) == 16 and s16[9] == 23 and s16[0] == 7 and s16[15] == 33


def test_server_from_env(monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    assert server_from_env() is None
    monkeypatch.setenv("LABEL_STUDIO_URL", "   ")
    assert server_from_env() is None
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://localhost:8080/")
    with pytest.raises(LabelStudioError, match="LABEL_STUDIO_API_KEY"):
        server_from_env()
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "secret")
    assert server_from_env() == ("http://localhost:8080", "secret")


# --- labels: none ---------------------------------------------------------------------------------

@pytest.fixture
def unlabelled(proxy_datasets, tmp_path):
    """A copy of the proxy Cityscapes without the train split's label files, and its config."""
    root = tmp_path / "cityscapes"
    shutil.copytree(proxy_datasets / "cityscapes", root)
    shutil.rmtree(root / "gtFine" / "train")
    return {"datasets": {"cityscapes": {"kind": "cityscapes", "root": str(root), "labels": "none"}}}


def test_labels_none_opens_a_pool_without_label_files(unlabelled, tmp_path):
    cfg = unlabelled
    ds = open_dataset(cfg, "cityscapes", "train")
    assert len(ds) == 6 and ds.image(0).shape == (32, 64, 3)
    with pytest.raises(DatasetError, match="labels: none"):
        ds.label(0)
    # evaluation splits keep their labels: val reads them, and a missing one is still an error
    val = open_dataset(cfg, "cityscapes", "val")
    assert val.label(0).shape == (32, 64)
    next((Path(cfg["datasets"]["cityscapes"]["root"]) / "gtFine" / "val").rglob("*.png")).unlink()
    with pytest.raises(DatasetError, match="is missing"):
        open_dataset(cfg, "cityscapes", "val")
    # without labels: none the train split needs its label files
    files = copy.deepcopy(cfg)
    del files["datasets"]["cityscapes"]["labels"]
    with pytest.raises(DatasetError, match="is missing"):
        open_dataset(files, "cityscapes", "train")

    # the labels annotators gave: labelIds at the image's size, read for the images that have one
    folder = tmp_path / "annotated"
    folder.mkdir()
    given = np.zeros((32, 64), np.uint8)  # unlabeled: ignored
    given[:10] = 7  # road
    given[10:20, :32] = 26  # car
    Image.fromarray(given).save(folder / f"{ds.ids[1]}.png")
    ds = with_label_files(ds, folder)
    ids = ds.label(1)
    assert (ids[:10] == 0).all() and (ids[10:20, :32] == 13).all() and (ids[10:20, 32:] == 255).all()
    assert (ids[20:] == 255).all()
    with pytest.raises(DatasetError, match="labels: none"):
        ds.label(0)


def test_labels_none_config_checks(tmp_path):
    base = tiny_config(tmp_path)
    ok = copy.deepcopy(base)
    ok["datasets"]["cityscapes"]["labels"] = "none"
    ok["oracle"] = "labelstudio"
    validate_config(ok)
    assert ok["datasets"]["cityscapes"]["cache"] is False

    cached = copy.deepcopy(base)
    cached["datasets"]["cityscapes"].update(labels="none", cache=True)
    cached["oracle"] = "labelstudio"
    with pytest.raises(ConfigError, match=r"datasets\.cityscapes: cache: true .*labels: none"):
        validate_config(cached)

    no_oracle = copy.deepcopy(base)
    no_oracle["datasets"]["cityscapes"]["labels"] = "none"
    with pytest.raises(ConfigError, match="needs annotators: set oracle: labelstudio"):
        validate_config(no_oracle)

    # a labelled target with annotators is fine
    annotators = copy.deepcopy(base)
    annotators["oracle"] = "labelstudio"
    validate_config(annotators)
