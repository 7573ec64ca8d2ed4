"""Second-stage losses and augmentations of MADAv2 (Ning et al., TPAMI) and RIPU (Xie et al., CVPR'22),
as small functions on tensors; train/madav2.py and train/ripu.py put them together.

MADA's soft alignment loss (MADAv2 eq. 14 is the same formula) and its EMA anchors are in
train/mada.py; ADA-MCU's contrastive units are in train/mcu_contrast.py.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data.labels import IGNORE

# ---------------------------------------------------------------- MADAv2 (Sec. 3.3, step 3)


def ohem_cross_entropy(logits: torch.Tensor, target: torch.Tensor, thresh: float = 0.7,
                       min_kept: int = 100000) -> torch.Tensor:
    """OHEM CE (MADAv2 eq. 13, after Shrivastava et al. / PSPNet): only pixels whose probability of
    their label is at most `thresh` count; when fewer than `min_kept` are that hard, the threshold
    rises to the min_kept-th smallest probability. All labelled pixels count when there are at
    most min_kept of them. logits (B, C, H, W) at the label resolution, target (B, H, W)."""
    ce = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="none").flatten()
    valid = target.flatten() != IGNORE
    n_valid = int(valid.sum())
    if n_valid == 0:
        return logits.sum() * 0.0
    ce = ce[valid]
    if n_valid <= min_kept:
        return ce.mean()
    with torch.no_grad():
        p = torch.exp(-ce)                      # probability of the labelled class
        kth = torch.kthvalue(p, max(1, min_kept)).values
        threshold = torch.maximum(kth, torch.tensor(thresh, dtype=p.dtype, device=p.device))
        keep = p <= threshold
    return ce[keep].mean()


def class_log_confidence(log_prob: torch.Tensor, pseudo: torch.Tensor, num_classes: int
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class sums for MADAv2 eq. 10: (sum over pixels pseudo-labelled c of log p_c, their count),
    each (C,). Conf_c = sum / count; sums add up over images, so the dataset value is exact."""
    lp = log_prob.movedim(1, -1).reshape(-1, log_prob.shape[1])
    lab = pseudo.reshape(-1)
    ok = lab != IGNORE
    lab, lp = lab[ok].long(), lp[ok]
    picked = lp.gather(1, lab[:, None])[:, 0]
    sums = torch.zeros(num_classes, dtype=lp.dtype, device=lp.device).index_add_(0, lab, picked)
    counts = torch.bincount(lab, minlength=num_classes).to(lp.dtype)
    return sums, counts


def class_sampling_weights(conf: np.ndarray, present: np.ndarray) -> np.ndarray:
    """MADAv2 eq. 11: Softmax(1 - Conf_c) over the classes seen in the pseudo-labels (0 elsewhere);
    low-confidence (tail) classes get the larger weight."""
    z = np.where(present, 1.0 - np.asarray(conf, dtype=np.float64), -np.inf)
    if not np.isfinite(z).any():
        return np.zeros_like(z)
    e = np.exp(z - z[np.isfinite(z)].max())
    return e / e.sum()


def cutmix_donor_probability(image_classes: np.ndarray, class_weights: np.ndarray) -> np.ndarray:
    """MADAv2 eq. 11: an unlabelled image's chance r to provide the ACM crop is the summed class
    weight of the classes in its pseudo-label (image_classes: (N, C) bool), normalised over images."""
    r = np.asarray(image_classes, dtype=np.float64) @ np.asarray(class_weights, dtype=np.float64)
    total = r.sum()
    return r / total if total > 0 else np.full(len(r), 1.0 / max(len(r), 1))


def random_box(height: int, width: int, area: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of a box covering `area` of the image with the image's aspect ratio."""
    bh, bw = max(1, round(height * area ** 0.5)), max(1, round(width * area ** 0.5))
    y0, x0 = int(rng.integers(0, height - bh + 1)), int(rng.integers(0, width - bw + 1))
    return y0, y0 + bh, x0, x0 + bw


def cutmix(x_dst: torch.Tensor, y_dst: torch.Tensor, x_src: torch.Tensor, y_src: torch.Tensor,
           box: tuple[int, int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """MADAv2 eq. 9: the box of (x_src, y_src) covers the same area of (x_dst, y_dst); (C,H,W), (H,W)."""
    y0, y1, x0, x1 = box
    x, y = x_dst.clone(), y_dst.clone()
    x[..., y0:y1, x0:x1] = x_src[..., y0:y1, x0:x1]
    y[y0:y1, x0:x1] = y_src[y0:y1, x0:x1]
    return x, y


def pick_paste_classes(label: torch.Tensor, class_weights: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
    """ACP (MADAv2 eq. 12): up to k classes of `label`, drawn without replacement with probability
    proportional to their eq. 11 weight, so the low-confidence (tail) classes travel most."""
    present = [int(c) for c in torch.unique(label).tolist() if c != IGNORE and c < len(class_weights)]
    w = np.array([class_weights[c] for c in present], dtype=np.float64)
    if not present or w.sum() <= 0:
        return []
    k = min(k, int((w > 0).sum()))
    return sorted(int(c) for c in rng.choice(present, size=k, replace=False, p=w / w.sum()))


def copy_paste(x_dst: torch.Tensor, y_dst: torch.Tensor, x_src: torch.Tensor, y_src: torch.Tensor,
               classes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """MADAv2 eq. 12: the pixels of `classes` in (x_src, y_src) are pasted, exactly, onto (x_dst, y_dst)."""
    mask = torch.zeros_like(y_src, dtype=torch.bool)
    for c in classes:
        mask |= y_src == c
    x, y = x_dst.clone(), y_dst.clone()
    x[..., mask] = x_src[..., mask]
    y[mask] = y_src[mask]
    return x, y


# ---------------------------------------------------------------- RIPU (Sec. 3.4)


def semantic_boundary(labels: torch.Tensor, ignore: int = 255) -> torch.Tensor:
    """Where RIPU's official code applies the local-consistency loss (BIT-DA/RIPU
    core/loss/local_consistent_loss.py:12-15, core/loss/boundary.py DetectSPBoundary): pixels of a
    (B, H, W) label map whose 8-neighbour Laplacian (8 x centre - the 8 neighbours, zero padding) is
    non-zero, i.e. class boundaries (and the image border for classes other than 0), labelled ones
    only."""
    x = labels.float()[:, None]
    kernel = torch.full((1, 1, 3, 3), -1.0, device=labels.device)
    kernel[0, 0, 1, 1] = 8.0
    lap = F.conv2d(x, kernel, padding=1)[:, 0]
    return (lap != 0) & (labels != ignore)


def local_consistency_loss(prob: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """RIPU eq. 9: mean of || P(i,j) - mean of P over the 3x3 neighbourhood ||_1; at the border the
    mean is over the neighbours inside the image (|N_1(i,j)|). Over every pixel, or, given the
    source labels, over their class-boundary pixels only (`semantic_boundary`, the official code;
    ripu.consistency_pixels). No boundary pixel: 0."""
    mean = F.avg_pool2d(prob, 3, stride=1, padding=1, count_include_pad=False)
    discrepancy = (prob - mean).abs().sum(1)
    if labels is None:
        return discrepancy.mean()
    mask = semantic_boundary(labels)
    return discrepancy[mask].mean() if mask.any() else discrepancy.sum() * 0.0


def negative_learning_loss(prob: torch.Tensor, tau: float = 0.05) -> torch.Tensor:
    """RIPU eqs. 10-11: classes with probability below tau are negative pseudo-labels (binary, no
    gradient through the choice); loss = -1/Lambda sum pi * log(1 - P), Lambda = number of negatives."""
    negative = (prob < tau).detach()
    n = negative.sum()
    if n == 0:
        return prob.sum() * 0.0
    return -(torch.log((1.0 - prob).clamp_min(1e-8)) * negative).sum() / n
