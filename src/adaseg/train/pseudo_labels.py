"""Pseudo-labels of the target training images from a trained model (MADA eq. 10), with the class
confidence statistics MADAv2's adaptive cutmix and copy-paste read (MADAv2 eq. 10)."""
from __future__ import annotations

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from ..data.datasets import open_dataset
from ..data.labels import IGNORE
from ..features import iterate_images
from ..io import atomic_path, create_planes, write_ids, write_plane
from ..models import upsample
from ..models.checkpoint import inference_model
from .losses import class_log_confidence


@torch.inference_mode()
def dump_pseudo_labels(cfg: dict, *, checkpoint: str, target: str, out: str, threads: int | None = None) -> None:
    """Argmax pseudo-labels (MADA eq. 10) of every target training image at label resolution, to
    HDF5; pixels below the configured confidence threshold are ignored (0 = plain argmax).
    Also the statistics MADAv2's adaptive cutmix reads: per image, the classes in its pseudo-label
    (`classes`, N x C) and, over the whole set, sum and count of log p_c over the pixels
    pseudo-labelled c (`log_conf_sum`, `log_conf_count`: eq. 10)."""
    model, meta, rt = inference_model(cfg, checkpoint, threads)
    ds = open_dataset(cfg, target, "train", meta["label_space"], with_labels=False)
    thr = float(cfg["mada"]["pseudo_threshold"])
    ncls = meta["num_classes"]
    sums, counts = torch.zeros(ncls, dtype=torch.float64), torch.zeros(ncls, dtype=torch.float64)
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        write_ids(h5, ds.ids)
        labels = create_planes(h5, "labels", ds.image_sizes(), "u1", fill=IGNORE)
        classes = h5.create_dataset("classes", (len(ds), ncls), dtype=bool)
        h5.attrs.update(checkpoint=str(checkpoint), threshold=thr)
        for idx, x, _ in iterate_images(ds, int(cfg["features"]["batch_size"]), False, "pseudo-labels"):
            logp = F.log_softmax(upsample(model(rt.inputs(x))["logits"], x.shape[-2:]), 1)
            conf, lab = logp.exp().max(1)
            lab[conf < thr] = IGNORE
            s, c = class_log_confidence(logp.double().cpu(), lab.cpu(), ncls)
            sums += s
            counts += c
            for j, i in enumerate(idx):
                write_plane(labels, i, lab[j].cpu().numpy().astype(np.uint8))
            classes[idx[0]:idx[-1] + 1] = (F.one_hot(lab.clamp_max(ncls), ncls + 1)[..., :ncls]
                                           .flatten(1, 2).amax(1).cpu().numpy().astype(bool))
        h5.create_dataset("log_conf_sum", data=sums.numpy())
        h5.create_dataset("log_conf_count", data=counts.numpy())
