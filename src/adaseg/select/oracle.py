"""Oracle selections: the target ground truth chooses what to label. They are upper references for
selection, never methods: they show whether picking well can matter on a benchmark at all (if an
oracle cannot beat random selection of its unit clearly, no strategy can be ranked there).

Two oracles per unit (image, 3x3 square, pixel, superpixel), both scored with the selecting model
(the warm-up in round 1):
- `true loss`: the units of largest cross-entropy of the model against the ground truth;
- `class-balanced true loss`: the same, but each true class gets a share of the budget in proportion
  to its share of the pool's labelled pixels (hardest units first within each class; what the
  quotas leave is then filled by loss over all classes), so that labels chosen for being hard cannot
  shift the learnt class mix by themselves.
A unit's true class is the majority ground-truth class of its pixels.
"""
from __future__ import annotations

import numpy as np

from ..data.labels import IGNORE
from .diversity import order_scores
from .ripu import box_sum


def true_loss_map(prob: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Per-pixel cross-entropy -log p(y) of a (C, H, W) softmax map against an (H, W) label map;
    0 on ignored pixels (void, or a class outside the label space)."""
    c = prob.shape[0]
    valid = label < c
    y = np.where(valid, label, 0).astype(np.int64)
    p = np.take_along_axis(prob, y[None], 0)[0]
    return np.where(valid, -np.log(np.clip(p, 1e-12, None)), 0.0)


def class_pixel_counts(label: np.ndarray, num_classes: int) -> np.ndarray:
    """Pixels of each class in a label map (ignored pixels not counted)."""
    v = label[label < num_classes].astype(np.int64)
    return np.bincount(v, minlength=num_classes)[:num_classes]


def class_shares(counts: np.ndarray) -> np.ndarray:
    """Each class's share of the labelled pixels (uniform when there are none)."""
    counts = np.asarray(counts, np.float64)
    return counts / counts.sum() if counts.sum() > 0 else np.full(len(counts), 1.0 / len(counts))


def window_majority_class(label: np.ndarray, num_classes: int, k: int) -> np.ndarray:
    """The majority ground-truth class in the (2k+1)^2 window around each pixel (IGNORE where the
    window has no labelled pixel; ties to the lower class id)."""
    onehot = label[None] == np.arange(num_classes)[:, None, None]
    counts = box_sum(onehot, k)
    out = counts.argmax(0)
    return np.where(counts.max(0) > 0, out, IGNORE)


def balanced_order(loss: np.ndarray, cls: np.ndarray, cost: np.ndarray, share: np.ndarray, budget: int) -> list[int]:
    """Units in pick order for the class-balanced oracle: hardest first (largest `loss`), class c's
    picks kept within share[c] x budget of `cost`; then the units the quotas held back, by loss.
    A unit of class IGNORE (no labelled pixel) is only taken in the second pass."""
    order = np.lexsort((np.arange(len(loss)), -np.asarray(loss, np.float64)))
    quota = np.asarray(share, np.float64) * budget
    used = np.zeros(len(share))
    first, later = [], []
    for u in order:
        c = int(cls[u])
        if 0 <= c < len(share) and used[c] + cost[u] <= quota[c]:
            used[c] += cost[u]
            first.append(int(u))
        else:
            later.append(int(u))
    return first + later


def oracle_picks(prob: np.ndarray, prob_aux, budget: int, labelled: np.ndarray, *, cfg: dict, options: dict,
                 rng=None, truth=None):
    """Registry entry (runner "model", reads "labels"): one image's oracle picks, (new mask, picked
    centres, score map). options: "k" (the ripu.<key> giving the square radius; none: single
    pixels) and "balanced". `truth` = (label map, pool class shares), passed by the runner. Squares
    and pixels are taken as RIPU takes its units (src/adaseg/select/ripu.py greedy_picks: blocking,
    square count), so an oracle differs from the random selection of its unit only in the ranking:
    the window mean of the true loss, or, balanced, that ranking with each true class's candidates
    first up to its share of the budget (balanced_order, counted in whole windows)."""
    from .ripu import greedy_picks, ripu_unit_options

    if truth is None:
        raise ValueError("an oracle selection needs the target ground truth (strategy reads 'labels')")
    label, share = truth
    k = int(cfg["ripu"][options["k"]]) if "k" in options else 0
    loss = true_loss_map(prob, label)
    score = box_sum(loss, k) / box_sum(np.ones(loss.shape), k) if k else loss
    rank = score
    if options.get("balanced"):
        c = prob.shape[0]
        cls = window_majority_class(label, c, k) if k else np.where(label < c, label, IGNORE)
        order = balanced_order(score.ravel(), cls.ravel(), np.full(score.size, (2 * k + 1) ** 2), share, budget)
        rank = order_scores(score.size, order).reshape(score.shape)
    new, picks = greedy_picks(rank, k, "RA" if k else "PA", budget, labelled, **ripu_unit_options(cfg))
    return new, picks, score


# image-level oracles (runner "image", reading the warm-up's target dump with ground truth)
def image_oracle_strategy(inputs):
    """The images of largest mean true cross-entropy of the warm-up (ignored pixels excluded)."""
    return inputs.target("true_loss"), {}


def image_oracle_balanced_strategy(inputs):
    """Class-balanced true-loss images, as an order (n, n-1, ..., 1): an image's class is the true
    class contributing most to its loss; each class takes images up to its share of the pool's
    labelled pixels times the images the budget needs."""
    loss = inputs.target("true_loss")
    class_loss = inputs.target("true_class_loss")
    counts = inputs.target("true_class_pixels")
    cls = np.where(class_loss.max(1) > 0, class_loss.argmax(1), IGNORE)
    order = balanced_order(loss, cls, np.ones(len(loss)), class_shares(counts.sum(0)), inputs.n_needed)
    return order_scores(len(loss), order), {}
