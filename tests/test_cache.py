"""The decoded-sample cache (adaseg.data.cache) and per-image planes of several sizes (adaseg.io):
a cached split reads the same pixels as the PNGs; mixed image sizes batch, pad and read back."""
import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from adaseg.data.cache import cache_path, write_cache
from adaseg.data.datasets import SegmentationDataset, open_dataset
from adaseg.data.loader import BatchStream
from adaseg.data.synth import generate
from adaseg.features import iterate_images
from adaseg.io import create_planes, plane, write_plane


def _cfg(root, results, cache):
    return {"results": str(results),
            "datasets": {"gta5": {"kind": "gta5", "root": str(root / "gta5"), "cache": cache},
                         "cityscapes": {"kind": "cityscapes", "root": str(root / "cityscapes"), "cache": cache}}}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    counts = {"gta5": 6, "cityscapes_train": 4, "cityscapes_val": 2}
    generate(root / "gta5", "gta5", 0, 32, 64, counts)
    generate(root / "cityscapes", "cityscapes", 0, 32, 64, counts)
    return root


def test_cached_split_reads_the_same_pixels(data, tmp_path):
    plain = _cfg(data, tmp_path, False)
    cached = _cfg(data, tmp_path, True)
    for name, split in (("gta5", "train"), ("cityscapes", "val")):
        ds = open_dataset(plain, name, split)
        write_cache(ds, cache_path(cached, name, split))
        dc = open_dataset(cached, name, split)
        assert dc.cache is not None and dc.image_sizes() == ds.image_sizes()
        for i in range(len(ds)):
            assert np.array_equal(dc.image(i), ds.image(i))
            assert np.array_equal(dc.label(i), ds.label(i))
    # Cityscapes read in SYNTHIA's 16-class space from a 19-class cache
    d16 = open_dataset(cached, "cityscapes", "val", label_space="synthia16")
    p16 = open_dataset(plain, "cityscapes", "val", label_space="synthia16")
    assert np.array_equal(d16.label(1), p16.label(1))
    # training batches through the cache equal the PNG batches
    a = BatchStream(open_dataset(plain, "gta5"), range(6), 3, 0, 1, crop=(24, 48), scale_range=(0.8, 1.2))
    b = BatchStream(open_dataset(cached, "gta5"), range(6), 3, 0, 1, crop=(24, 48), scale_range=(0.8, 1.2))
    for it in range(3):
        xa, ya = a.batch(it)
        xb, yb = b.batch(it)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_missing_or_stale_cache_names_the_file_and_the_fix(data, tmp_path):
    cached = _cfg(data, tmp_path, True)
    with pytest.raises(FileNotFoundError, match=r"cache/gta5/train.h5.*rule cache_dataset"):
        open_dataset(cached, "gta5")
    other = SegmentationDataset("cityscapes", data / "cityscapes", "val")
    write_cache(other, cache_path(cached, "gta5", "train"))
    with pytest.raises(ValueError, match="stale cache"):
        open_dataset(cached, "gta5")


def _mixed_gta5(root):
    """GTA5 layout with images of two sizes (as the real set's 1914x1052 and 1914x1054)."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for n, h in enumerate([10, 10, 12, 10, 12]):
        Image.fromarray(rng.integers(0, 255, (h, 16, 3), dtype=np.uint8)).save(root / "images" / f"{n:05d}.png")
        Image.fromarray(rng.choice([7, 8, 11, 26], (h, 16)).astype(np.uint8)).save(root / "labels" / f"{n:05d}.png")


def test_mixed_sizes_batch_by_size_and_planes_read_back(tmp_path):
    _mixed_gta5(tmp_path / "gta5")
    ds = SegmentationDataset("gta5", tmp_path / "gta5")
    assert ds.image_sizes() == [(10, 16), (10, 16), (12, 16), (10, 16), (12, 16)]
    with pytest.raises(ValueError, match="mixes image sizes 16x10, 16x12: set datasets.<name>.resize"):
        ds.image_size()
    batches = [(idx, tuple(x.shape), tuple(y.shape)) for idx, x, y in iterate_images(ds, 4, True, "test")]
    assert batches == [([0, 1], (2, 3, 10, 16), (2, 10, 16)), ([2], (1, 3, 12, 16), (1, 12, 16)),
                       ([3], (1, 3, 10, 16), (1, 10, 16)), ([4], (1, 3, 12, 16), (1, 12, 16))]
    with h5py.File(tmp_path / "planes.h5", "w") as h5:
        masks = create_planes(h5, "masks", ds.image_sizes(), "u1")
        for i in range(len(ds)):
            write_plane(masks, i, ds.label(i))
    with h5py.File(tmp_path / "planes.h5") as h5:
        assert h5["masks"].shape == (5, 12, 16)
        for i in range(len(ds)):
            assert np.array_equal(plane(h5["masks"], i), ds.label(i))
    # the cache pads the same way and gives back each image at its own size
    write_cache(ds, tmp_path / "c.h5")
    dc = SegmentationDataset("gta5", tmp_path / "gta5", cache=tmp_path / "c.h5")
    for i in range(len(ds)):
        assert np.array_equal(dc.image(i), ds.image(i)) and np.array_equal(dc.label(i), ds.label(i))
