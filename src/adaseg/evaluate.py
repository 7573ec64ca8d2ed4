"""Confusion-matrix mIoU on the target validation split (19 classes; 16 and 13 for SYNTHIA)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .data.datasets import open_dataset, read_label
from .data.labels import IGNORE, LABEL_SPACES, SYNTHIA13_DROPPED
from .data.loader import to_tensor
from .errors import ConfigError
from .features import iterate_images
from .io import write_json
from .models import upsample
from .models.checkpoint import inference_model


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


def eval_label(ds, i: int, resolution) -> np.ndarray:
    """Ground truth of image i at the evaluation resolution: the label file's own size ('native',
    e.g. Cityscapes 2048x1024, whatever the dataset's training `resize`) or [H, W] (nearest). A label
    whose size is not its image's raises adaseg.data.datasets.DatasetReadError naming both files
    (the prediction would otherwise be stretched onto it)."""
    size = None if resolution == "native" else tuple(resolution)
    s = ds.samples[i]
    return read_label(s.label, ds.kind, ds.label_space, size, s.image, ds.raw_size(i))


def class_probabilities(model, x: torch.Tensor, size, flip: bool) -> torch.Tensor:
    """Softmax of the logits upsampled to `size` (B, C, H, W); with flip, averaged with the
    mirrored prediction of the mirrored image (test-time augmentation)."""
    prob = F.softmax(upsample(model(x)["logits"], size), 1)
    if flip:
        prob = 0.5 * (prob + F.softmax(upsample(model(x.flip(-1))["logits"], size), 1).flip(-1))
    return prob


def protocol(cfg: dict) -> str:
    """How evaluation was done, for the table footnotes."""
    e = cfg["evaluation"]
    res = "each label file's own resolution" if e["resolution"] == "native" else f"{e['resolution'][1]}x{e['resolution'][0]}"
    return f"confusion matrix at {res} (logits upsampled bilinearly)" + (", horizontal-flip TTA" if e["flip"] else "")


@torch.inference_mode()
def evaluate(cfg: dict, checkpoint: str, target: str, out: str, threads: int | None = None) -> dict:
    """Evaluate a checkpoint on the `val` split of the target dataset and write the JSON report.
    The network reads each image at the dataset's resize; its logits are upsampled to the label
    at `evaluation.resolution` (default the label file's own size, as the papers evaluate)."""
    ecfg = cfg["evaluation"]
    if ecfg["split"] == "train" and not ecfg.get("allow_train"):
        raise ConfigError("evaluation.split: 'train' scores the model on the target images it was adapted on "
                          "(not a held-out result); set evaluation.split: val, or evaluation.allow_train: true")
    model, meta, rt = inference_model(cfg, checkpoint, threads)
    space, ncls = meta["label_space"], meta["num_classes"]
    ds = open_dataset(cfg, target, ecfg["split"], space)
    conf = np.zeros((ncls, ncls), dtype=np.int64)
    pixels = 0
    for idx, x, _ in iterate_images(ds, int(cfg["features"]["batch_size"]), False, f"evaluate {target}"):
        x = rt.inputs(x)
        for j, i in enumerate(idx):
            y = eval_label(ds, i, ecfg["resolution"])
            pred = class_probabilities(model, x[j:j + 1], y.shape, ecfg["flip"]).argmax(1)[0]
            conf += confusion_matrix(pred.cpu().numpy(), y, ncls)
            pixels += y.size
    res = summarize(conf, space)
    res.update(checkpoint=str(checkpoint), stage=meta.get("stage"), images=len(ds), split=ecfg["split"],
               dataset=target, pixels=int(pixels), protocol=protocol(cfg), precision=rt.precision)
    write_json(out, res)
    return res


@torch.inference_mode()
def predict(cfg: dict, checkpoint: str, target: str, indices: list[int], split: str | None = None,
            threads: int | None = None) -> tuple[list[np.ndarray], str]:
    """Argmax predictions of a checkpoint on images `indices` of the target split (default: the
    evaluation split), each at the size of the image as read (the figures' view), and the
    checkpoint's label space."""
    model, meta, rt = inference_model(cfg, checkpoint, threads)
    ds = open_dataset(cfg, target, split or cfg["evaluation"]["split"], meta["label_space"])
    preds = []
    for i in indices:
        img = ds.image(i)
        prob = class_probabilities(model, rt.inputs(to_tensor(img)[None]), img.shape[:2], cfg["evaluation"]["flip"])
        preds.append(prob.argmax(1)[0].cpu().numpy().astype(np.uint8))
    return preds, meta["label_space"]
