"""adaseg.data.labels: the label maps, read back from files in each real layout; unknown ids named with the file."""
import cv2
import numpy as np
import pytest
from PIL import Image

from adaseg.data import labels as L
from adaseg.data.datasets import SegmentationDataset
from adaseg.data.labels import LabelEncodingError
from conftest import write_blank_rgb

# Cityscapes labelId -> trainId (the 19 evaluated classes; GTA5 stores the same labelIds).
EXPECTED_19 = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
               25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
# SYNTHIA id -> 16-class trainId.
EXPECTED_16 = {3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 1: 9, 10: 10, 17: 11, 8: 12,
               19: 13, 12: 14, 11: 15}


def _all_ids_row(max_id):
    return np.arange(max_id + 1, dtype=np.uint8)[None].repeat(4, 0)


def _expected(table, max_id):
    return np.array([table.get(i, 255) for i in range(max_id + 1)], np.uint8)[None].repeat(4, 0)


def test_gta5_palette_png_labelids(tmp_path):
    write_blank_rgb(tmp_path / "images" / "00001.png")
    ids = _all_ids_row(33)
    im = Image.frombytes("P", (34, 4), ids.tobytes())
    im.putpalette([v for i in range(256) for v in (i, i, i)])
    (tmp_path / "labels").mkdir()
    im.save(tmp_path / "labels" / "00001.png")
    ds = SegmentationDataset("gta5", tmp_path)
    assert ds.ids == ["00001"]
    np.testing.assert_array_equal(ds.label(0), _expected(EXPECTED_19, 33))


def test_cityscapes_labelids(tmp_path):
    img = tmp_path / "leftImg8bit" / "val" / "lindau" / "lindau_000000_000019_leftImg8bit.png"
    write_blank_rgb(img)
    lbl = tmp_path / "gtFine" / "val" / "lindau" / "lindau_000000_000019_gtFine_labelIds.png"
    lbl.parent.mkdir(parents=True)
    Image.fromarray(_all_ids_row(33)).save(lbl)
    ds = SegmentationDataset("cityscapes", tmp_path, split="val")
    assert ds.ids == ["lindau_000000_000019"]
    np.testing.assert_array_equal(ds.label(0), _expected(EXPECTED_19, 33))
    # the same file in the SYNTHIA 16-class space: terrain (9), truck (14), train (16) -> ignore
    ds16 = SegmentationDataset("cityscapes", tmp_path, split="val", label_space="synthia16")
    got = ds16.label(0)[0]
    assert got[22] == 255 and got[27] == 255 and got[31] == 255  # terrain, truck, train labelIds
    assert got[23] == 9 and got[26] == 12 and got[28] == 13 and got[33] == 15  # sky, car, bus, bicycle


def test_synthia_16bit_channel0(tmp_path):
    write_blank_rgb(tmp_path / "RGB" / "0000000.png", w=23)
    ids = np.arange(23, dtype=np.uint16)[None].repeat(4, 0)
    inst = np.full_like(ids, 300)  # instance ids above 255 must not leak into the class id
    (tmp_path / "GT" / "LABELS").mkdir(parents=True)
    # cv2 writes BGR: the class id is channel 0 of the RGB image, i.e. the last plane here
    assert cv2.imwrite(str(tmp_path / "GT" / "LABELS" / "0000000.png"), np.stack([np.zeros_like(ids), inst, ids], -1))
    ds = SegmentationDataset("synthia", tmp_path, label_space="synthia16")
    np.testing.assert_array_equal(ds.label(0), _expected(EXPECTED_16, 22).astype(np.uint8)[:, :23])


def test_maps_match_design():
    assert L.LABELID_TO_TRAINID == EXPECTED_19
    assert L.SYNTHIA_TO_TRAINID16 == EXPECTED_16
    assert len(L.CITYSCAPES_CLASSES) == 19 and len(L.SYNTHIA16_CLASSES) == 16


def test_unknown_ids_are_reported_with_file(tmp_path):
    write_blank_rgb(tmp_path / "images" / "00001.png")
    (tmp_path / "labels").mkdir()
    Image.fromarray(np.full((4, 34), 200, np.uint8)).save(tmp_path / "labels" / "00001.png")
    with pytest.raises(LabelEncodingError, match=r"labels/00001.png.*unknown Cityscapes labelIds \[200\]"):
        SegmentationDataset("gta5", tmp_path).label(0)
