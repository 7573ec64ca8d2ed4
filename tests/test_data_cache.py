"""adaseg.data.cache: a cached split reads the same pixels as the PNGs; a missing or stale cache says the fix."""
import numpy as np
import pytest
import torch

from adaseg.data.cache import cache_path, write_cache
from adaseg.data.datasets import SegmentationDataset, open_dataset
from adaseg.data.loader import BatchStream


def _cfg(root, results, cache):
    return {"results": str(results),
            "datasets": {"gta5": {"kind": "gta5", "root": str(root / "gta5"), "cache": cache},
                         "cityscapes": {"kind": "cityscapes", "root": str(root / "cityscapes"), "cache": cache}}}


def test_cached_split_reads_the_same_pixels(proxy_datasets, tmp_path):
    plain = _cfg(proxy_datasets, tmp_path, False)
    cached = _cfg(proxy_datasets, tmp_path, True)
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


def test_missing_or_stale_cache_names_the_file_and_the_fix(proxy_datasets, tmp_path):
    cached = _cfg(proxy_datasets, tmp_path, True)
    with pytest.raises(FileNotFoundError, match=r"cache/gta5/train.h5.*rule cache_dataset"):
        open_dataset(cached, "gta5")
    other = SegmentationDataset("cityscapes", proxy_datasets / "cityscapes", "val")
    write_cache(other, cache_path(cached, "gta5", "train"))
    with pytest.raises(ValueError, match="stale cache"):
        open_dataset(cached, "gta5")
