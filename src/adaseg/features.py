"""Per-image class-mean features (MADA eqs. 1 and 4), streamed to HDF5.

For each image a C x D matrix: row c is the mean decoder feature (stride 4, before the classifier)
over the pixels of class c. Source images use the pixels whose ground truth is c AND whose
prediction is c; target images use the predicted argmax. Classes with fewer than `min_pixels`
pixels stay zero rows (official MADA code: 10 px of the 256x512 decoder map of a 1024x2048 image;
`features.min_pixels_at` scales it to the feature map in use by area, `effective_min_pixels`).

When the target pool has label files, its dumps also hold what the oracles select with (never read
by a method): each image's mean true cross-entropy, per-class true loss and pixel counts, and each
superpixel's mean true loss and majority true class (src/adaseg/select/oracle.py).
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
from .data.loader import to_tensor
from .io import atomic_path, open_h5, plane, read_ids, write_ids
from .models import upsample
from .models.checkpoint import inference_model, load_discriminator


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


def effective_min_pixels(cfg: dict, feature_hw) -> int:
    """features.min_pixels scaled by area from the map it is given for (features.min_pixels_at) to a
    feature map of `feature_hw`; at least 1. With min_pixels_at null, min_pixels as is."""
    f = cfg["features"]
    at = f.get("min_pixels_at", [256, 512])
    if not at:
        return int(f["min_pixels"])
    return max(1, int(round(int(f["min_pixels"]) * feature_hw[0] * feature_hw[1] / (at[0] * at[1]))))


def has_ground_truth(cfg: dict, dataset: str) -> bool:
    """Whether the training pool of `dataset` has label files (not `labels: none`)."""
    return cfg["datasets"][dataset].get("labels") != "none"


def image_true_loss(prob: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Oracle fields of a (B, C, H, W) softmax map against (B, H, W) labels: the mean true
    cross-entropy over labelled pixels, the summed loss per true class and the pixels per class."""
    c = prob.shape[1]
    valid = labels < c
    y = torch.where(valid, labels, torch.zeros_like(labels))
    ce = -torch.log(prob.gather(1, y[:, None]).clamp_min(1e-12))[:, 0] * valid
    onehot = F.one_hot(y, c).to(prob.dtype) * valid[..., None]
    return {"true_loss": ce.flatten(1).sum(1) / valid.flatten(1).sum(1).clamp_min(1),
            "true_class_loss": torch.einsum("bhw,bhwc->bc", ce, onehot),
            "true_class_pixels": onehot.sum((1, 2))}


def entropy_map(prob: torch.Tensor) -> torch.Tensor:
    """Per-pixel entropy of a (B, C, H, W) softmax map, normalised by log C (MADA eq. 12 before the sum)."""
    return -(prob * torch.log(prob.clamp_min(1e-12))).sum(1) / np.log(prob.shape[1])


def pixel_entropy(logits: torch.Tensor) -> torch.Tensor:
    return entropy_map(F.softmax(logits, 1))


def iterate_images(ds, batch_size: int, with_labels: bool, desc: str):
    """Yield (indices, images, labels|None) batches in dataset order, reading from disk as it goes.
    A batch holds consecutive images of one size: a split that mixes sizes (GTA5's 1914x1052 and
    1914x1054 images without `resize`) is cut into shorter batches where the size changes."""
    pending: list[tuple[int, torch.Tensor]] = []

    def flush():
        idx = [i for i, _ in pending]
        x = torch.stack([t for _, t in pending])
        y = torch.stack([torch.from_numpy(ds.label(i).astype(np.int64)) for i in idx]) if with_labels else None
        pending.clear()
        return idx, x, y

    for i in tqdm(range(len(ds)), desc=desc, unit="img", mininterval=2.0):
        t = to_tensor(ds.image(i))
        if pending and (len(pending) == batch_size or pending[-1][1].shape != t.shape):
            yield flush()
        pending.append((i, t))
    if pending:
        yield flush()


def image_uncertainty(prob: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image scores of a (B, C, H, W) softmax map: mean normalised entropy (MADAv2 eq. 16 up
    to the constant H*W), mean max-probability (softmax confidence) and mean top-1 minus top-2
    margin."""
    top2 = prob.topk(2, dim=1).values
    return {"entropy": entropy_map(prob).mean((1, 2)), "confidence": top2[:, 0].mean((1, 2)),
            "margin": (top2[:, 0] - top2[:, 1]).mean((1, 2))}


def gradient_embedding(prob: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """BADGE embedding of an image, (B, C, D): the gradient of the CE loss against the predicted
    label w.r.t. the 1x1 classifier weights, (p - onehot(argmax p)) x feature, averaged over pixels."""
    b, c = prob.shape[:2]
    p = prob.flatten(2)                                                   # (B, C, N)
    onehot = F.one_hot(p.argmax(1), c).permute(0, 2, 1).to(p.dtype)       # (B, C, N)
    return torch.einsum("bcn,bdn->bcd", p - onehot, features.flatten(2)) / p.shape[-1]


@torch.inference_mode()
def dump_features(cfg: dict, checkpoint: str, dataset: str, split: str, mode: str, out: str | Path,
                  threads: int | None = None) -> None:
    """Write, for every image, to HDF5: class-mean features and pixel counts (MADA eqs. 1/4) and the
    mean decoder feature ('pooled'); for the target also uncertainty scores (entropy, confidence,
    margin), the BADGE gradient embedding and the warm-up discriminator's mean P(source)."""
    if mode not in ("source", "target"):
        raise ValueError("mode must be 'source' (GT AND prediction) or 'target' (prediction)")
    model, meta, rt = inference_model(cfg, checkpoint, threads)
    device = rt.device
    disc = load_discriminator(checkpoint, device) if mode == "target" else None
    ncls = meta["num_classes"]
    truth = mode == "target" and has_ground_truth(cfg, dataset)
    ds = open_dataset(cfg, dataset, split, meta["label_space"], with_labels=(mode == "source" or truth))
    bs = int(cfg["features"]["batch_size"])
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        n, dim = len(ds), model.feature_dim
        write_ids(h5, ds.ids)
        arrays = {
            # one chunk per image, gzip level 4 after the byte shuffle: 0.40 of the raw size for the
            # class means (half their rows are zero) and 0.80 for BADGE embeddings, written at
            # ~30 MiB/s on one CPU core (lzf: 0.45 / 0.84 at ~50 MiB/s; no shuffle: 0.39 / 0.92)
            "features": h5.create_dataset("features", (n, ncls, dim), dtype="f4", chunks=(1, ncls, dim),
                                          compression="gzip", compression_opts=4, shuffle=True),
            "counts": h5.create_dataset("counts", (n, ncls), dtype="i4"),
            "pooled": h5.create_dataset("pooled", (n, dim), dtype="f4"),
        }
        if mode == "target":  # what the image-level strategies read; the source needs none of it
            for name in ("entropy", "confidence", "margin"):
                arrays[name] = h5.create_dataset(name, (n,), dtype="f4")
            arrays["grad_embedding"] = h5.create_dataset("grad_embedding", (n, ncls, dim), dtype="f4",
                                                         chunks=(1, ncls, dim), compression="gzip",
                                                         compression_opts=4, shuffle=True)
        if truth:   # what the image oracles select with
            arrays["true_loss"] = h5.create_dataset("true_loss", (n,), dtype="f4")
            for name in ("true_class_loss", "true_class_pixels"):
                arrays[name] = h5.create_dataset(name, (n, ncls), dtype="f4")
        if disc is not None:
            arrays["disc_source_prob"] = h5.create_dataset("disc_source_prob", (n,), dtype="f4")
        h5.attrs.update(mode=mode, checkpoint=str(checkpoint), dataset=dataset, split=split,
                        min_pixels_config=int(cfg["features"]["min_pixels"]), num_classes=ncls, feature_dim=dim)
        for idx, x, y in iterate_images(ds, bs, mode == "source" or truth, f"features {dataset}/{split}"):
            x = rt.inputs(x)
            out_ = model(x)
            logits, feats = out_["logits"], out_["features"]
            min_px = effective_min_pixels(cfg, feats.shape[-2:])
            h5.attrs["min_pixels"] = min_px
            cmap = source_class_map(logits, y.to(device)) if mode == "source" else target_class_map(logits)
            m, c = class_mean_features(feats, cmap, ncls, min_px)
            batch = {"features": m, "counts": c, "pooled": feats.mean((2, 3))}
            if mode == "target":
                prob = F.softmax(upsample(logits, x.shape[-2:]), 1)
                batch.update(image_uncertainty(prob), grad_embedding=gradient_embedding(F.softmax(logits, 1), feats))
                if truth:
                    batch.update(image_true_loss(prob, y.to(device)))
            if disc is not None:
                # AdaptSeg labels source 0 and target 1, so P(source) = 1 - sigmoid(D)
                batch["disc_source_prob"] = (1 - torch.sigmoid(disc(prob))).mean((1, 2, 3))
            sl = slice(idx[0], idx[-1] + 1)
            for name, value in batch.items():
                arrays[name][sl] = value.cpu().numpy()


@torch.inference_mode()
def dump_region_features(cfg: dict, checkpoint: str, dataset: str, superpixels: str, out: str | Path,
                         threads: int | None = None, chunk_rows: int = 4096) -> None:
    """Per superpixel of every training image (D2ADA): its image, segment id, pixel count, class
    (argmax of the mean softmax), mean pixel entropy and mean decoder feature (at stride 4; a
    superpixel that vanishes at that resolution has valid = 0 and takes no part in the densities).

    The rows stream to resizable HDF5 datasets of `chunk_rows`-row chunks, written a whole chunk at
    a time, so memory stays at one batch of images plus one chunk of rows (a paper-size GTA5 dump,
    about a million 256-d rows, never sits in memory). gzip level 4: 0.76 of the raw size for the
    feature rows at ~20 MiB/s on one CPU core (lzf: 0.86 at ~50 MiB/s; the byte shuffle did not help)."""
    model, meta, rt = inference_model(cfg, checkpoint, threads)
    device = rt.device
    truth = has_ground_truth(cfg, dataset)
    ds = open_dataset(cfg, dataset, "train", meta["label_space"], with_labels=truth)
    dtypes = {"image": "i4", "segment": "i2", "pixels": "i8", "cls": "i2", "entropy": "f4", "feature": "f4", "valid": "u1"}
    if truth:   # what the superpixel oracles select with: mean true loss and majority true class
        dtypes.update(true_loss="f4", true_cls="i2")
    with open_h5(superpixels, "superpixels file", need=("ids", "segments")) as sp:
        if read_ids(sp) != ds.ids:
            raise ValueError(f"'{superpixels}' does not list the images of {dataset}/train in order")
        with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
            write_ids(h5, ds.ids)
            dim = model.feature_dim
            cols = {k: h5.create_dataset(k, (0, dim) if k == "feature" else (0,), dtype=t,
                                         maxshape=(None, dim) if k == "feature" else (None,),
                                         chunks=(chunk_rows, dim) if k == "feature" else (chunk_rows,),
                                         compression="gzip", compression_opts=4)
                    for k, t in dtypes.items()}
            h5.attrs.update(checkpoint=str(checkpoint), dataset=dataset, num_classes=meta["num_classes"])
            pending: dict[str, list] = {k: [] for k in dtypes}

            def flush(final: bool) -> None:
                """Append the pending rows: whole chunks only, the tail too when `final`."""
                n_rows = sum(len(p) for p in pending["image"])
                take = n_rows if final else n_rows - n_rows % chunk_rows
                if take == 0:
                    return
                for k, parts in pending.items():
                    a = np.concatenate(parts).astype(dtypes[k], copy=False)
                    d = cols[k]
                    start = d.shape[0]
                    d.resize(start + take, axis=0)
                    d[start:] = a[:take]
                    pending[k] = [a[take:]] if take < len(a) else []

            batches = iterate_images(ds, int(cfg["features"]["batch_size"]), truth, f"region features {dataset}")
            for idx, x, y in batches:
                o = model(rt.inputs(x))
                prob = F.softmax(upsample(o["logits"], x.shape[-2:]), 1)
                ent = entropy_map(prob)
                for j, i in enumerate(idx):
                    seg = torch.from_numpy(plane(sp["segments"], i).astype(np.int64)).to(device)
                    n = int(seg.max()) + 1
                    flat = seg.flatten()
                    px = torch.bincount(flat, minlength=n).double()
                    mean_prob = torch.zeros(n, prob.shape[1], dtype=torch.float64, device=device).index_add_(
                        0, flat, prob[j].flatten(1).T.double()) / px.clamp_min(1)[:, None]
                    mean_ent = torch.zeros(n, dtype=torch.float64, device=device).index_add_(
                        0, flat, ent[j].flatten().double()) / px.clamp_min(1)
                    f = o["features"][j]
                    seg_lo = downsample_labels(seg[None], f.shape[-2:])[0].flatten()
                    cnt_lo = torch.bincount(seg_lo, minlength=n).double()
                    feat = torch.zeros(n, f.shape[0], dtype=torch.float64, device=device).index_add_(
                        0, seg_lo, f.flatten(1).T.double()) / cnt_lo.clamp_min(1)[:, None]
                    keep = px > 0
                    pending["image"].append(np.full(int(keep.sum()), i))
                    pending["segment"].append(np.flatnonzero(keep.cpu().numpy()))
                    pending["pixels"].append(px[keep].cpu().numpy())
                    pending["cls"].append(mean_prob[keep].argmax(1).cpu().numpy())
                    pending["entropy"].append(mean_ent[keep].cpu().numpy())
                    pending["feature"].append(feat[keep].float().cpu().numpy())
                    pending["valid"].append((cnt_lo[keep] > 0).cpu().numpy())
                    if truth:
                        lab = y[j].to(device)
                        ok = lab < prob.shape[1]
                        ce = -torch.log(prob[j].gather(0, torch.where(ok, lab, 0)[None]).clamp_min(1e-12))[0] * ok
                        loss = torch.zeros(n, dtype=torch.float64, device=device).index_add_(
                            0, flat, ce.flatten().double()) / px.clamp_min(1)
                        votes = torch.zeros(n, prob.shape[1] + 1, dtype=torch.float64, device=device).index_put_(
                            (flat, torch.where(ok, lab, prob.shape[1]).flatten()),
                            torch.ones(flat.numel(), dtype=torch.float64, device=device), accumulate=True)
                        major = votes[:, :-1].argmax(1)
                        major = torch.where(votes[:, :-1].sum(1) > 0, major, torch.full_like(major, -1))
                        pending["true_loss"].append(loss[keep].cpu().numpy())
                        pending["true_cls"].append(major[keep].cpu().numpy())
                flush(final=False)
            flush(final=True)
