"""Per-image class-mean features (MADA eqs. 1 and 4), streamed to HDF5.

For each image a C x D matrix: row c is the mean decoder feature (stride 4, before the classifier)
over the pixels of class c. Source images use the pixels whose ground truth is c AND whose
prediction is c; target images use the predicted argmax. Classes with fewer than `min_pixels`
pixels stay zero rows (official MADA code).
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .data.datasets import open_dataset
from .data.labels import IGNORE
from .io import atomic_path
from .train.common import load_model, setup_runtime, to_tensor


def downsample_labels(labels: torch.Tensor, size) -> torch.Tensor:
    """Nearest-neighbour resize of a (B, H, W) label map."""
    return F.interpolate(labels[:, None].float(), size=tuple(size), mode="nearest")[:, 0].long()


def source_class_map(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """MADA eq. 1 mask at feature resolution: ground truth where the prediction agrees, else ignore."""
    gt = downsample_labels(labels, logits.shape[-2:])
    pred = logits.argmax(1)
    return torch.where(gt == pred, gt, torch.full_like(gt, IGNORE))


def target_class_map(logits: torch.Tensor) -> torch.Tensor:
    """MADA eq. 4 mask: the predicted class of each pixel."""
    return logits.argmax(1)


def class_mean_features(features: torch.Tensor, class_map: torch.Tensor, num_classes: int,
                        min_pixels: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, D) class-mean features and (B, C) pixel counts of (B, D, h, w) features under a
    (B, h, w) class map (IGNORE pixels excluded); rows with < min_pixels pixels are zero."""
    b, d = features.shape[:2]
    cmap = class_map.reshape(b, -1)
    valid = cmap != IGNORE
    onehot = F.one_hot(torch.where(valid, cmap, torch.zeros_like(cmap)), num_classes).to(features.dtype)
    onehot = onehot * valid[..., None].to(features.dtype)                  # (B, HW, C)
    sums = torch.einsum("bnc,bdn->bcd", onehot, features.reshape(b, d, -1))  # (B, C, D)
    counts = onehot.sum(1)                                                 # (B, C)
    keep = counts >= min_pixels
    means = sums / counts.clamp_min(1)[..., None]
    return means * keep[..., None].to(features.dtype), counts.long()


def pixel_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-pixel entropy normalised by log C (MADA eq. 12 before the sum)."""
    p = F.softmax(logits, 1)
    return -(p * torch.log(p.clamp_min(1e-12))).sum(1) / np.log(logits.shape[1])


def iterate_images(ds, batch_size: int, with_labels: bool, desc: str):
    """Yield (indices, images, labels|None) batches in dataset order, reading from disk as it goes."""
    for start in tqdm(range(0, len(ds), batch_size), desc=desc, unit="batch", mininterval=2.0):
        idx = list(range(start, min(start + batch_size, len(ds))))
        x = torch.stack([to_tensor(ds.image(i)) for i in idx])
        y = torch.stack([torch.from_numpy(ds.label(i).astype(np.int64)) for i in idx]) if with_labels else None
        yield idx, x, y


@torch.no_grad()
def dump_features(cfg: dict, checkpoint: str, dataset: str, split: str, mode: str, out: str | Path,
                  threads: int | None = None) -> None:
    """Write ids, class-mean features, pixel counts and mean pixel entropy of every image to HDF5."""
    if mode not in ("source", "target"):
        raise ValueError("mode must be 'source' (GT AND prediction) or 'target' (prediction)")
    device = setup_runtime(threads, cfg.get("device", "auto"))
    model, meta = load_model(checkpoint, device)
    model.eval()
    ncls = meta["num_classes"]
    ds = open_dataset(cfg, dataset, split, meta["label_space"], with_labels=(mode == "source"))
    min_px = int(cfg["features"]["min_pixels"])
    bs = int(cfg["features"]["batch_size"])
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        n, dim = len(ds), model.feature_dim
        h5.create_dataset("ids", data=np.array(ds.ids, dtype=object), dtype=h5py.string_dtype())
        feats = h5.create_dataset("features", (n, ncls, dim), dtype="f4", chunks=(1, ncls, dim))
        counts = h5.create_dataset("counts", (n, ncls), dtype="i4")
        ent = h5.create_dataset("entropy", (n,), dtype="f4")
        h5.attrs.update(mode=mode, checkpoint=str(checkpoint), dataset=dataset, split=split,
                        min_pixels=min_px, num_classes=ncls, feature_dim=dim)
        for idx, x, y in iterate_images(ds, bs, mode == "source", f"features {dataset}/{split}"):
            out_ = model(x.to(device))
            logits = out_["logits"]
            cmap = source_class_map(logits, y.to(device)) if mode == "source" else target_class_map(logits)
            m, c = class_mean_features(out_["features"], cmap, ncls, min_px)
            sl = slice(idx[0], idx[-1] + 1)
            feats[sl] = m.cpu().numpy()
            counts[sl] = c.cpu().numpy()
            ent[sl] = pixel_entropy(logits).mean((1, 2)).cpu().numpy()


def read_features(path: str | Path) -> tuple[list[str], np.ndarray]:
    """(ids, flattened (N, C*D) feature vectors) of a feature dump."""
    with h5py.File(path, "r") as h5:
        ids = [s.decode() if isinstance(s, bytes) else s for s in h5["ids"][:]]
        f = h5["features"][:]
    return ids, f.reshape(len(ids), -1)
