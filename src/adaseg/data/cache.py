"""Decoded-sample cache: every image of a dataset split as read for training (decoded, resized to
`resize`) and its training ids, stored once as uint8 arrays in HDF5 (rule `cache_dataset`).

A stage that reads a cached split (`datasets.<name>.cache: true`) reads the arrays instead of
decoding and resizing the PNGs, and gets exactly the same pixels. Images are stored uncompressed,
one chunk per image (a read is a copy, no decoding); labels are gzip-compressed. Size: at most
H x W x 4 bytes per image (Cityscapes train at 512x1024: at most 6.2 GB; GTA5 at 720x1280: 92 GB),
so the cache is for datasets that fit on the disk; the proxy uses it by default. Only the image
list is checked against the folder: after changing the images of a real dataset in place, delete
its cache.
"""
from __future__ import annotations

import shlex
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from ..errors import InputFileError
from ..io import (MissingInputError, ProcessLocalH5, atomic_path, create_planes, open_h5, plane, read_ids,
                  rebuild_hint, write_ids, write_plane)

CACHE_WRITER = "rule cache_dataset (`adaseg cache`)"


def cache_path(cfg: dict, name: str, split: str) -> Path:
    """Where the cache of split `split` of dataset `name` lives (under the results folder)."""
    return Path(cfg["results"]) / "cache" / name / f"{split}.h5"


def write_cache(ds, out: str | Path) -> None:
    """Decode every image and label of a SegmentationDataset (read without a cache) into `out`."""
    sizes = ds.image_sizes()
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        write_ids(h5, ds.ids)
        h, w = (int(v) for v in np.max(sizes, 0))
        images = h5.create_dataset("images", (len(ds), h, w, 3), dtype="u1", chunks=(1, h, w, 3))
        labels = create_planes(h5, "labels", sizes, "u1", fill=255)
        h5.attrs.update(kind=ds.kind, root=str(ds.root), split=ds.split, label_space=ds.label_space,
                        resize=list(ds.resize) if ds.resize else [])
        for i in tqdm(range(len(ds)), desc=f"cache {ds.kind}/{ds.split}", unit="img", mininterval=2.0):
            img = ds.image(i)
            images[i, :img.shape[0], :img.shape[1]] = img
            write_plane(labels, i, ds.label(i))


class CachedSamples:
    """Read access to a cache file, opened lazily in each process (adaseg.io.ProcessLocalH5)."""

    def __init__(self, path: str | Path, ids: list[str], resize, label_space: str):
        self.path = Path(path)
        rebuild = f"delete it and {rebuild_hint(self.path, CACHE_WRITER)}"
        if not self.path.is_file():
            raise MissingInputError(
                f"decoded-sample cache '{self.path}' is missing: build it with {CACHE_WRITER}: "
                f"`snakemake --cores 1 {shlex.quote(str(self.path))}`, or set cache: false for this dataset")
        with open_h5(self.path, "decoded-sample cache", ("ids", "sizes", "images", "labels"), CACHE_WRITER) as h5:
            try:
                cached_ids = read_ids(h5)
                self.sizes = [tuple(int(v) for v in s) for s in h5["sizes"][:]]
                stored_resize = list(h5.attrs["resize"])
                self.label_space = str(h5.attrs["label_space"])
            except (OSError, KeyError) as e:
                raise InputFileError(f"decoded-sample cache '{self.path}' is not readable "
                                     f"({' '.join(str(e).split())}); {rebuild}") from None
        if cached_ids != list(ids):
            raise InputFileError(f"decoded-sample cache '{self.path}' lists other images than the dataset folder "
                                 f"({len(cached_ids)} cached, {len(ids)} in the folder: a stale cache); {rebuild}")
        if stored_resize != (list(resize) if resize else []):
            raise InputFileError(f"decoded-sample cache '{self.path}' was written at resize {stored_resize or None}, "
                                 f"the config asks for {list(resize) if resize else None}; {rebuild}")
        if self.label_space != label_space and not (self.label_space == "cityscapes19" and label_space == "synthia16"):
            raise InputFileError(f"decoded-sample cache '{self.path}' holds {self.label_space} labels, not "
                                 f"{label_space}; {rebuild}")
        self._file = ProcessLocalH5(self.path)

    def image(self, i: int) -> np.ndarray:
        h, w = self.sizes[i]
        return self._file()["images"][i, :h, :w]

    def label(self, i: int) -> np.ndarray:
        return plane(self._file()["labels"], i)
