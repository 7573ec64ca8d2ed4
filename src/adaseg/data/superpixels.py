"""SLIC superpixels (scikit-image) of every image of a dataset split, computed once and cached in HDF5."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from skimage.segmentation import slic
from tqdm import tqdm

from ..io import atomic_path, create_planes, write_ids, write_plane
from .datasets import open_dataset


def superpixels(image: np.ndarray, n_segments: int, compactness: float) -> np.ndarray:
    """(H, W) int16 SLIC labels 0..R-1 of an RGB uint8 image."""
    return slic(image, n_segments=n_segments, compactness=compactness, start_label=0,
                channel_axis=-1).astype(np.int16)


def compute_superpixels(cfg: dict, dataset: str, split: str, out: str | Path) -> None:
    """SLIC labels of every image of the split at the size it is read (images of several sizes are
    stored padded, each with its own size: `adaseg.io.plane` reads them back)."""
    scfg = cfg["d2ada"]
    ds = open_dataset(cfg, dataset, split, with_labels=False)
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        write_ids(h5, ds.ids)
        seg = create_planes(h5, "segments", ds.image_sizes(), "i2")
        h5.attrs.update(n_segments=int(scfg["n_segments"]), compactness=float(scfg["compactness"]))
        for i in tqdm(range(len(ds)), desc=f"SLIC {dataset}/{split}", unit="img", mininterval=2.0):
            write_plane(seg, i, superpixels(ds.image(i), int(scfg["n_segments"]), float(scfg["compactness"])))
