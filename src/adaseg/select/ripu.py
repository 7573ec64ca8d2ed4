"""RIPU (Xie et al., CVPR'22): region impurity x prediction uncertainty over (2k+1)^2 squares.

Official code: BIT-DA/RIPU at commit 84328cf (file:line below relative to it).

Window statistics use integral images, so their cost does not depend on k. Picks are greedy (eq. 2,
repeated): the best-scoring unblocked pixel is taken.

RA labels its (2k+1)^2 square and blocks centres within 2k (a (4k+1)^2 window) so labelled squares
never overlap (BIT-DA/RIPU core/active/build.py:95, 142-149: `mask_radius = RADIUS_K * 2`). Its count per
image and round is ripu.ra_squares: `ceil` (default, the official code, build.py:129):
ceil(N * ratio / R / (2k+1)^2) squares, here ceil(budget_px / (2k+1)^2) with budget_px the runner's
per-image pixel budget of the round, which may overshoot the pixel budget by less than one square;
`within_budget`: squares until the next one would overshoot the pixel budget (never exceeded).

PA labels the pixel alone and blocks a square around it: ripu.pa_block_radius `k` (default, the
official code, build.py:19 `mask_radius = cfg.ACTIVE.RADIUS_K`, applied at build.py:64-70) or `2k`
(the paper's text: the neighbourhoods N_k of picked pixels never overlap, so centres are more than 2k
apart). Its budget is ripu.pa_pixels_per_image over all rounds (official: build.py:17,
ceil(PIXELS / R x 2048x1024 / (1280x640)) per round).

The blocked areas of earlier rounds stay blocked (the official `active` indicator is saved with the
masks and reloaded, build.py:56, 77-81, 127, 157-161): since adaseg's masks file holds only the labelled
pixels, they are rebuilt from it, the labelled mask dilated by k for RA (squares of radius k,
dilated by k: the centres within 2k of an earlier centre) and by the PA blocking radius for PA, so a
centre is blocked iff it lies within the blocking radius (Chebyshev) of an earlier pick, of this
round or of an earlier one. Labelled pixels are never taken again.
"""
from __future__ import annotations

import math

import numpy as np

PA_BLOCK_RADII = ("k", "2k")
RA_SQUARE_RULES = ("ceil", "within_budget")


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


def block_radius(k: int, mode: str, pa_block_radius: str = "k") -> int:
    """Chebyshev radius around a picked centre within which no later centre is taken: 2k for RA (a
    (4k+1)^2 window, BIT-DA/RIPU core/active/build.py:95), k or 2k for PA (ripu.pa_block_radius;
    official k, build.py:19)."""
    if mode == "RA":
        return 2 * k
    if pa_block_radius not in PA_BLOCK_RADII:
        raise ValueError(f"unknown ripu.pa_block_radius '{pa_block_radius}' ({', '.join(PA_BLOCK_RADII)})")
    return k if pa_block_radius == "k" else 2 * k


def blocked_by_earlier_rounds(labelled: np.ndarray, k: int, mode: str, pa_block_radius: str = "k") -> np.ndarray:
    """The centres the picks of earlier rounds block, from their labelled mask: within k of a labelled
    pixel for RA (whose labelled squares have radius k: so within 2k of an earlier centre), within the
    PA blocking radius (k or 2k) for PA (labelled pixels are the centres); the same rule as within a
    round (greedy_picks)."""
    labelled = labelled.astype(bool)
    r = k if mode == "RA" else block_radius(k, mode, pa_block_radius)
    if r == 0 or not labelled.any():
        return labelled.copy()
    return box_sum(labelled, r) > 0


def ra_square_count(budget: int, k: int) -> int:
    """Official RA squares per image and round (BIT-DA/RIPU core/active/build.py:129): ceil(pixel budget / (2k+1)^2)."""
    return math.ceil(budget / (2 * k + 1) ** 2)


def greedy_picks(score: np.ndarray, k: int, mode: str, budget: int, labelled: np.ndarray | None = None, *,
                 pa_block_radius: str = "k", ra_squares: str = "ceil") -> tuple[np.ndarray, list[tuple[int, int]]]:
    """RIPU eq. 2, repeated: (new label mask, picked centres). A centre within the blocking radius
    (block_radius) of an earlier pick (this round's, or an earlier round's: `labelled`) is never
    taken. PA takes `budget` pixels. RA with ra_squares='ceil' takes ra_square_count(budget, k)
    squares (the official rule; the labelled pixels may exceed `budget` by less than one square);
    with 'within_budget' a square that would overshoot `budget` new pixels ends the selection."""
    if ra_squares not in RA_SQUARE_RULES:
        raise ValueError(f"unknown ripu.ra_squares '{ra_squares}' ({', '.join(RA_SQUARE_RULES)})")
    h, w = score.shape
    labelled = np.zeros((h, w), bool) if labelled is None else labelled.astype(bool)
    blocked = blocked_by_earlier_rounds(labelled, k, mode, pa_block_radius)
    r = block_radius(k, mode, pa_block_radius)
    max_picks = ra_square_count(budget, k) if mode == "RA" and ra_squares == "ceil" else None
    new = np.zeros((h, w), bool)
    used, picks = 0, []
    if budget <= 0:
        return new, picks
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
        if max_picks is None and used + gain > budget:
            break
        new[win] |= ~labelled[win]
        used += gain
        picks.append((i, j))
        blocked[max(i - r, 0):i + r + 1, max(j - r, 0):j + r + 1] = True
        if (len(picks) >= max_picks) if max_picks is not None else (used >= budget):
            break
    return new, picks


def ripu_unit_options(cfg: dict) -> dict:
    """greedy_picks' keyword arguments from cfg["ripu"] (pa_block_radius, ra_squares; schema
    defaults when absent)."""
    rcfg = cfg.get("ripu", {})
    return {"pa_block_radius": str(rcfg.get("pa_block_radius", "k")),
            "ra_squares": str(rcfg.get("ra_squares", "ceil"))}


def ripu_picks(prob: np.ndarray, prob_aux, budget: int, labelled: np.ndarray, *, cfg: dict, options: dict, rng=None):
    """Registry entry (src/adaseg/registry/strategies.py, runner "model"): one image's RIPU picks,
    (new mask, picked centres, eq. 6 score map); options["mode"] is RA (squares) or PA (pixels);
    ripu.pa_block_radius and ripu.ra_squares as in greedy_picks."""
    mode, k = options["mode"], int(cfg["ripu"][options["k"]])
    score = ripu_acquisition(prob, k, mode, cfg["ripu"]["criterion"])
    new, picks = greedy_picks(score, k, mode, budget, labelled, **ripu_unit_options(cfg))
    return new, picks, score
