"""ADA-MCU pixel selection (Zhang et al.): uncertainty = normalised entropy + gamma * KL(main || aux)
(eqs. 1-3), high / medium / low groups and annotation by adaptive sampling (Algorithm 1).

Offline form used here, per image with budget M_e: pi_high starts above every score and decays by
r until G_h = {S >= pi_high} holds M_e/2 pixels (the highest ones if the last step overshoots);
then M_e/2 pixels are drawn uniformly from G_m = {pi_low <= S < pi_high}. The paper leaves pi_low
open; here it is the `low_quantile` quantile of the image's scores (below it: G_l).

Algorithm 1 does not say what to do when a group cannot supply its half. Here: once pi_high decays
to the lowest free score (or stops decreasing, e.g. a subnormal float stuck above a floor of 0:
fully confident pixels on which both heads agree score exactly 0), every free pixel is in G_h;
and when G_m holds fewer pixels than its half (empty once pi_high has decayed below pi_low, or when
all scores are equal), the rest of the budget comes from the remaining free pixels in descending
score order (what is left of G_h first, then G_l; ties in raster order). So the budget is met
whenever the image has that many free pixels, and an image with fewer gives all of them.
"""
from __future__ import annotations

import numpy as np
import torch


def mcu_uncertainty(prob, prob_aux, gamma: float, axis: int = 0):
    """Eq. 1 = entropy / log C (eq. 2) + gamma * KL(main || aux) (eq. 3) of the softmax maps of the
    main and auxiliary heads, classes along `axis`: numpy (C, H, W) in the selection, torch
    (B, C, H, W) with axis=1 in the training step; returns the same array type."""
    if isinstance(prob, torch.Tensor):
        logp, logq = prob.clamp_min(1e-12).log(), prob_aux.clamp_min(1e-12).log()
    else:
        logp, logq = np.log(np.clip(prob, 1e-12, None)), np.log(np.clip(prob_aux, 1e-12, None))
    entropy = -(prob * logp).sum(axis) / np.log(prob.shape[axis])   # eq. 2
    kl = (prob * (logp - logq)).sum(axis)                           # eq. 3
    return entropy + gamma * kl


def adaptive_sampling(score: np.ndarray, budget: int, rng: np.random.Generator, low_quantile: float = 0.5,
                      decay: float = 0.9, labelled: np.ndarray | None = None, adaptive: bool = True) -> np.ndarray:
    """Algorithm 1 offline: a boolean mask of min(budget, free pixels) new pixels, half from the high
    group, half sampled uniformly from the medium group, the rest (when the medium group is short)
    from the remaining free pixels by score (module docstring); labelled pixels are never taken again.
    adaptive=False (ADA-MCU Table 6, 'AL w/o AS'): the whole budget from the high group."""
    flat = score.ravel().astype(np.float64)
    free = np.ones(flat.size, bool) if labelled is None else ~labelled.ravel().astype(bool)
    chosen = np.zeros(flat.size, bool)
    half_high = budget // 2 if adaptive else budget
    pi_high = float(flat[free].max()) + 1.0 if free.any() else 0.0
    floor = float(flat[free].min()) if free.any() else 0.0
    high = np.zeros(flat.size, bool)
    while half_high and high.sum() < half_high and pi_high > floor:
        lower = pi_high * decay
        if lower <= floor or lower >= pi_high:   # reached the floor, or stuck (subnormal above 0)
            pi_high = floor
            high = free.copy()                   # every free pixel is >= the floor
            break
        pi_high = lower
        high = free & (flat >= pi_high)
    idx = np.flatnonzero(high)
    idx = idx[np.argsort(-flat[idx], kind="stable")][:half_high]
    chosen[idx] = True
    pi_low = float(np.quantile(flat[free], low_quantile)) if free.any() else 0.0
    medium = np.flatnonzero(free & ~chosen & (flat >= pi_low) & (flat < pi_high))
    take = min(budget - int(chosen.sum()), medium.size)
    if take > 0:
        chosen[rng.choice(medium, size=take, replace=False)] = True
    short = budget - int(chosen.sum())
    if short > 0:   # G_m could not supply its half: the remaining free pixels by score
        rest = np.flatnonzero(free & ~chosen)
        chosen[rest[np.argsort(-flat[rest], kind="stable")][:short]] = True
    return chosen.reshape(score.shape)


def mcu_picks(prob, prob_aux, budget: int, labelled: np.ndarray, *, cfg: dict, options: dict, rng=None):
    """Registry entry (src/adaseg/registry/strategies.py, runner "model"): one image's ADA-MCU pixels,
    (new mask, picked pixels, eq. 1 score map) by adaptive sampling (Algorithm 1)."""
    m = cfg["mcu"]
    score = mcu_uncertainty(prob, prob_aux, float(m["gamma"]))
    new = adaptive_sampling(score, budget, rng, float(m["low_quantile"]), float(m["decay"]), labelled,
                            bool(m["adaptive_sampling"]))
    return new, [tuple(p) for p in np.argwhere(new)], score
