"""RIPU (Xie et al., CVPR'22): region impurity x prediction uncertainty over (2k+1)^2 squares.

Window statistics use integral images, so their cost does not depend on k. Picks are greedy:
the best-scoring unblocked pixel is taken; RA labels its square and blocks centres within 2k (a
(4k+1)^2 window) so labelled squares never overlap; PA labels the pixel alone and blocks the same
window so the picked pixels' neighbourhoods never overlap. The blocked areas of earlier rounds stay
blocked (as in the official code; the paper: "the selected regions and the neighbors N_k of
selected pixels are non-overlapping"): since the masks file holds only the labelled pixels, they
are rebuilt from it, the labelled mask dilated by k for RA (squares of radius k, dilated by k: the
centres within 2k of an earlier centre) and by 2k for PA, so a centre is blocked iff it lies within
2k (Chebyshev) of an earlier pick, of this round or of an earlier one. Labelled pixels are never
taken again.
"""
from __future__ import annotations

import numpy as np


def box_sum(x: np.ndarray, k: int) -> np.ndarray:
    """Sum of x (..., H, W) over the (2k+1)^2 square around each pixel, clipped at the border."""
    h, w = x.shape[-2:]
    s = np.zeros(x.shape[:-2] + (h + 1, w + 1), dtype=np.float64)
    s[..., 1:, 1:] = x.astype(np.float64).cumsum(-2).cumsum(-1)
    y0 = np.clip(np.arange(h) - k, 0, h)
    y1 = np.clip(np.arange(h) + k + 1, 0, h)
    x0 = np.clip(np.arange(w) - k, 0, w)
    x1 = np.clip(np.arange(w) + k + 1, 0, w)
    return (s[..., y1[:, None], x1[None, :]] - s[..., y0[:, None], x1[None, :]]
            - s[..., y1[:, None], x0[None, :]] + s[..., y0[:, None], x0[None, :]])


def region_impurity(pred: np.ndarray, num_classes: int, k: int) -> np.ndarray:
    """RIPU eqs. 3-4: entropy of the predicted-class histogram in each square, / log C."""
    onehot = (pred[None] == np.arange(num_classes)[:, None, None])
    counts = box_sum(onehot, k)                                  # |N_k^c(i, j)|
    n = box_sum(np.ones(pred.shape), k)                         # |N_k(i, j)|
    p = counts / n
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.where(p > 0, p * np.log(p), 0.0).sum(0)
    return ent / np.log(num_classes)


def prediction_uncertainty(entropy: np.ndarray, k: int) -> np.ndarray:
    """RIPU eq. 5: mean pixel entropy over each square (pass k=0 for PA, where U = H)."""
    return box_sum(entropy, k) / box_sum(np.ones(entropy.shape), k)


def ripu_acquisition(prob: np.ndarray, k: int, mode: str, criterion: str = "both") -> np.ndarray:
    """RIPU eq. 6, A = P (.) U, for a (C, H, W) softmax map; entropies normalised by log C.
    criterion 'impurity' or 'uncertainty' keeps one factor (RIPU Table 3, rows a and b)."""
    if criterion not in ("both", "impurity", "uncertainty"):
        raise ValueError(f"unknown RIPU criterion '{criterion}' (both, impurity, uncertainty)")
    c = prob.shape[0]
    pred = prob.argmax(0)
    if criterion == "impurity":
        return region_impurity(pred, c, k)
    ent = -(prob * np.log(np.clip(prob, 1e-12, None))).sum(0) / np.log(c)
    u = prediction_uncertainty(ent, k) if mode == "RA" else ent
    return u if criterion == "uncertainty" else region_impurity(pred, c, k) * u


def blocked_by_earlier_rounds(labelled: np.ndarray, k: int, mode: str) -> np.ndarray:
    """The centres the picks of earlier rounds block, from their labelled mask: within k of a labelled
    pixel for RA (whose labelled squares have radius k: so within 2k of an earlier centre), within 2k
    for PA (labelled pixels are the centres); the same rule as within a round (greedy_picks)."""
    labelled = labelled.astype(bool)
    r = k if mode == "RA" else 2 * k
    if r == 0 or not labelled.any():
        return labelled.copy()
    return box_sum(labelled, r) > 0


def greedy_picks(score: np.ndarray, k: int, mode: str, budget: int,
                 labelled: np.ndarray | None = None) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """RIPU eq. 2, repeated: (new label mask, picked centres) within `budget` new pixels; a pick
    that would overshoot the budget ends the selection, so the budget is never exceeded. A centre
    within 2k of an earlier pick (this round's, or an earlier round's: `labelled`) is never taken."""
    h, w = score.shape
    labelled = np.zeros((h, w), bool) if labelled is None else labelled.astype(bool)
    blocked = blocked_by_earlier_rounds(labelled, k, mode)
    new = np.zeros((h, w), bool)
    used, picks = 0, []
    for flat in np.argsort(-score, axis=None, kind="stable"):
        i, j = divmod(int(flat), w)
        if blocked[i, j]:
            continue
        if mode == "RA":
            win = (slice(max(i - k, 0), i + k + 1), slice(max(j - k, 0), j + k + 1))
            gain = int((~labelled[win] & ~new[win]).sum())
        else:
            win = (slice(i, i + 1), slice(j, j + 1))
            gain = 1
        if used + gain > budget:
            break
        new[win] |= ~labelled[win]
        used += gain
        picks.append((i, j))
        blocked[max(i - 2 * k, 0):i + 2 * k + 1, max(j - 2 * k, 0):j + 2 * k + 1] = True
        if used >= budget:
            break
    return new, picks


def ripu_picks(prob: np.ndarray, prob_aux, budget: int, labelled: np.ndarray, *, cfg: dict, options: dict, rng=None):
    """Registry entry (src/adaseg/registry/strategies.py, runner "model"): one image's RIPU picks,
    (new mask, picked centres, eq. 6 score map); options["mode"] is RA (squares) or PA (pixels)."""
    mode, k = options["mode"], int(cfg["ripu"][options["k"]])
    score = ripu_acquisition(prob, k, mode, cfg["ripu"]["criterion"])
    new, picks = greedy_picks(score, k, mode, budget, labelled)
    return new, picks, score
