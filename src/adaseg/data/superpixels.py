"""SLIC superpixels (scikit-image) of every image of a dataset split, computed once and cached in HDF5.

D2ADA's official superpixels (tsunghan-wu/D2ADA data_preprocessing/superpixel_gen.py:24) are
fast_slic's `Slic(num_components=40, compactness=10, min_size_factor=0)`: exactly 40 per image.
fast_slic (PyPI fast-slic 0.4.0, a source distribution only) does not build for Python 3.11, so
d2ada.superpixel_method `fast_slic` (default) emulates it with scikit-image: SLIC clustering without
scikit-image's connectivity step, then fast_slic's own connectivity rule (Algy/fast-slic
src/cca.cpp, ConnectivityEnforcer::execute): among the 4-connected components of at least
min_size_factor x S^2 pixels (S = int(sqrt(H W / K)); d2ada.superpixel_min_size_factor, official 0)
the K = n_segments largest keep a label of their own, numbered in raster order of their first pixel;
every other component joins the segment left of its first pixel (above it in column 0). Every
superpixel is connected and, with min_size_factor 0, there are exactly n_segments of them whenever
the clustering has that many components. `skimage`: scikit-image's slic with its own connectivity
step (min_size_factor 0.5), about 26 superpixels per 64x128 proxy image for n_segments 40.
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage
from skimage.segmentation import slic
from tqdm import tqdm

from ..io import atomic_path, create_planes, write_ids, write_plane
from .datasets import open_dataset


SUPERPIXEL_METHODS = ("fast_slic", "skimage")


def fast_slic_connectivity(assignment: np.ndarray, n_segments: int, min_size_factor: float = 0.0) -> np.ndarray:
    """fast_slic's connectivity rule (Algy/fast-slic src/cca.cpp, ConnectivityEnforcer::execute) on a
    (H, W) cluster map: the 4-connected components of at least round(S^2 min_size_factor) pixels, S =
    int(sqrt(H W // n_segments)), are candidates; the n_segments largest (ties: first in raster
    order) get labels 0.. in raster order of their first pixel; every other component takes the label
    of the pixel left of its first pixel (above it in column 0), or 0 for the component of pixel 0."""
    h, w = assignment.shape
    comp = np.zeros((h, w), np.int64)
    n = 0
    for lab in np.unique(assignment):
        c, m = ndimage.label(assignment == lab)   # 4-connectivity
        comp[c > 0] = c[c > 0] + n
        n += m
    flat = comp.ravel() - 1
    area = np.bincount(flat, minlength=n)
    first = np.full(n, h * w, np.int64)
    np.minimum.at(first, flat, np.arange(h * w))
    s = int(np.sqrt(h * w // n_segments))
    keep = np.flatnonzero(area >= int(round(s * s * min_size_factor)))
    if len(keep) > n_segments:
        keep = keep[np.lexsort((first[keep], -area[keep]))[:n_segments]]
    keep = keep[np.argsort(first[keep])]
    label = np.full(n, -1, np.int64)
    label[keep] = np.arange(len(keep))
    for c in np.argsort(first):   # in raster order: the pixel left of (or above) a first pixel is labelled
        if label[c] < 0:
            p = first[c]
            q = p - 1 if p % w else p - w
            label[c] = label[flat[q]] if q >= 0 and label[flat[q]] >= 0 else 0
    return label[flat].reshape(h, w)


def superpixels(image: np.ndarray, n_segments: int, compactness: float, method: str = "fast_slic",
                min_size_factor: float = 0.0) -> np.ndarray:
    """(H, W) int16 SLIC labels 0..R-1 of an RGB uint8 image; method and min_size_factor as
    d2ada.superpixel_method and d2ada.superpixel_min_size_factor (see the module docstring;
    min_size_factor applies to `fast_slic` only)."""
    if method == "skimage":
        return slic(image, n_segments=n_segments, compactness=compactness, start_label=0,
                    channel_axis=-1).astype(np.int16)
    if method != "fast_slic":
        raise ValueError(f"unknown d2ada.superpixel_method '{method}' ({', '.join(SUPERPIXEL_METHODS)})")
    clusters = slic(image, n_segments=n_segments, compactness=compactness, start_label=0, channel_axis=-1,
                    enforce_connectivity=False)
    return fast_slic_connectivity(clusters, n_segments, min_size_factor).astype(np.int16)


def compute_superpixels(cfg: dict, dataset: str, split: str, out: str | Path) -> None:
    """SLIC labels of every image of the split at the size it is read (images of several sizes are
    stored padded, each with its own size: `adaseg.io.plane` reads them back)."""
    scfg = cfg["d2ada"]
    ds = open_dataset(cfg, dataset, split, with_labels=False)
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        write_ids(h5, ds.ids)
        seg = create_planes(h5, "segments", ds.image_sizes(), "i2")
        method = str(scfg.get("superpixel_method", "fast_slic"))
        msf = float(scfg.get("superpixel_min_size_factor", 0.0))
        h5.attrs.update(n_segments=int(scfg["n_segments"]), compactness=float(scfg["compactness"]),
                        method=method, min_size_factor=msf)
        for i in tqdm(range(len(ds)), desc=f"SLIC {dataset}/{split}", unit="img", mininterval=2.0):
            write_plane(seg, i, superpixels(ds.image(i), int(scfg["n_segments"]), float(scfg["compactness"]),
                                            method, msf))
