"""Confusion-matrix mIoU on the target validation split (19 classes; 16 and 13 for SYNTHIA)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .data.datasets import open_dataset
from .data.labels import IGNORE, LABEL_SPACES, SYNTHIA13_DROPPED
from .features import iterate_images
from .io import write_json
from .models import upsample
from .train.common import load_model, setup_runtime, to_tensor


def confusion_matrix(pred: np.ndarray, label: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts, rows = ground truth, columns = prediction; IGNORE pixels are skipped."""
    keep = label != IGNORE
    idx = label[keep].astype(np.int64) * num_classes + pred[keep].astype(np.int64)
    return np.bincount(idx, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def iou_from_confusion(conf: np.ndarray) -> np.ndarray:
    """Per-class IoU = TP / (TP + FP + FN); NaN for a class absent from both GT and prediction."""
    tp = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def summarize(conf: np.ndarray, label_space: str) -> dict:
    classes = LABEL_SPACES[label_space]
    iou = iou_from_confusion(conf)
    res = {
        "label_space": label_space,
        "classes": list(classes),
        "iou": {c: (None if np.isnan(v) else round(float(v) * 100, 4)) for c, v in zip(classes, iou)},
        "miou": round(float(np.nanmean(iou)) * 100, 4),
        "pixel_accuracy": round(float(np.diag(conf).sum() / max(conf.sum(), 1)) * 100, 4),
        "confusion": conf.tolist(),
    }
    if label_space == "synthia16":
        keep = [i for i, c in enumerate(classes) if c not in SYNTHIA13_DROPPED]
        res["miou13"] = round(float(np.nanmean(iou[keep])) * 100, 4)
    return res


@torch.no_grad()
def evaluate(cfg: dict, checkpoint: str, target: str, out: str, threads: int | None = None) -> dict:
    """Evaluate a checkpoint on the `val` split of the target dataset and write the JSON report."""
    device = setup_runtime(threads, cfg.get("device", "auto"))
    model, meta = load_model(checkpoint, device)
    model.eval()
    space, ncls = meta["label_space"], meta["num_classes"]
    ds = open_dataset(cfg, target, cfg["evaluation"]["split"], space)
    conf = np.zeros((ncls, ncls), dtype=np.int64)
    for _, x, y in iterate_images(ds, int(cfg["features"]["batch_size"]), True, f"evaluate {target}"):
        logits = upsample(model(x.to(device))["logits"], y.shape[-2:])
        pred = F.softmax(logits, 1).argmax(1).cpu().numpy()
        conf += confusion_matrix(pred, y.numpy(), ncls)
    res = summarize(conf, space)
    res.update(checkpoint=str(checkpoint), stage=meta.get("stage"), images=len(ds),
               split=cfg["evaluation"]["split"], dataset=target)
    write_json(out, res)
    return res


@torch.no_grad()
def predict(cfg: dict, checkpoint: str, target: str, indices: list[int], split: str | None = None,
            threads: int | None = None) -> tuple[np.ndarray, str]:
    """Argmax predictions (N, H, W) of a checkpoint on images `indices` of the target split
    (default: the evaluation split), at label resolution, and the checkpoint's label space."""
    device = setup_runtime(threads, cfg.get("device", "auto"))
    model, meta = load_model(checkpoint, device)
    model.eval()
    ds = open_dataset(cfg, target, split or cfg["evaluation"]["split"], meta["label_space"])
    preds = []
    for i in indices:
        x = to_tensor(ds.image(i))[None]
        logits = upsample(model(x.to(device))["logits"], ds.image_size())
        preds.append(logits.argmax(1)[0].cpu().numpy().astype(np.uint8))
    return np.stack(preds), meta["label_space"]
