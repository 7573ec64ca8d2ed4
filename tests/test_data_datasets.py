"""adaseg.data.datasets: dataset layouts and label files, with errors that name the folder or file."""
import pytest

from adaseg.data.datasets import DatasetLayoutError, DatasetReadError, SegmentationDataset, read_label, scan
from conftest import write_blank_rgb


def test_missing_dataset_folder_names_layout(tmp_path):
    with pytest.raises(DatasetLayoutError) as e:
        scan("cityscapes", tmp_path / "nope")
    msg = str(e.value)
    assert "does not exist" in msg and "leftImg8bit/<split>/<city>" in msg and str(tmp_path / "nope") in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="no images found.*Expected layout: <root>/images"):
        scan("gta5", tmp_path / "empty")


def test_missing_label_file_is_named(tmp_path):
    write_blank_rgb(tmp_path / "images" / "00007.png")
    with pytest.raises(DatasetLayoutError, match="labels/00007.png"):
        scan("gta5", tmp_path)


def test_corrupt_label_file_is_named(tmp_path):
    write_blank_rgb(tmp_path / "images" / "00001.png")
    (tmp_path / "labels").mkdir()
    bad = tmp_path / "labels" / "00001.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    ds = SegmentationDataset("gta5", tmp_path)
    with pytest.raises(DatasetReadError, match="00001.png"):
        ds.label(0)


def test_colour_label_instead_of_ids_is_rejected(tmp_path):
    write_blank_rgb(tmp_path / "images" / "00001.png")
    write_blank_rgb(tmp_path / "labels" / "00001.png")
    with pytest.raises(DatasetReadError, match="mode RGB"):
        read_label(tmp_path / "labels" / "00001.png", "gta5", "cityscapes19")
