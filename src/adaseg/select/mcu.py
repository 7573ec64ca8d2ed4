"""ADA-MCU pixel selection (Zhang et al.): uncertainty = normalised entropy + gamma * KL(main || aux)
(eqs. 1-3), high / medium / low groups and annotation by adaptive sampling (Algorithm 1).

Offline form used here, with budget M_e: pi_high starts above every free score and decays by r
(`mcu.decay`, Alg. 1 l.7) until G_h = {S >= pi_high} is large enough; the labelled half comes from
G_h, then M_e/2 pixels are drawn uniformly from G_m = {pi_low <= S < pi_high} (Alg. 1 l.10). The
paper leaves pi_low open; here it is the `low_quantile` quantile of the free scores (below it: G_l).

Two switches (config `mcu:`):
- `quota` (Sec. IV.C): `global` anneals ONE pi_high (and takes one pi_low) over the scores of all
  target images pooled, so the round's total budget is met over the pool and each image gets the
  share its scores earn (`global_adaptive_sampling`; the caller scores every image first, then
  picks: `mcu_score` + `mcu_pool_picks`). `per_image` gives every image its own budget and its own
  pi_high (`adaptive_sampling`, `mcu_picks`), the equal per-image shares Sec. IV.C rejects.
- `g_h_half` (footnote 3): `random` grows G_h to 2 M_a pixels (the top 2 M_a of {S >= pi_high}
  when the last decay step overshoots) and labels a uniform random M_a of them (rng of the
  caller); `top` grows G_h to M_a pixels and labels all of them (the M_a highest scores).
  M_a = M_e/2 with adaptive sampling, M_e without (Table VI, "AL w/o AS").

Algorithm 1 does not say what to do when a group cannot supply its half. Here: once pi_high decays
to the lowest free score (or stops decreasing, e.g. a subnormal float stuck above a floor of 0:
fully confident pixels on which both heads agree score exactly 0), every free pixel is in G_h;
and when G_m holds fewer pixels than its half (empty once pi_high has decayed below pi_low, or when
all scores are equal), the rest of the budget comes from the remaining free pixels in descending
score order (what is left of G_h first, then G_l; ties in pool order: image, then raster). So the
budget is met whenever the pool (the image, for `per_image`) has that many free pixels, and a pool
with fewer gives all of them. The global form holds every free score of the pool in memory at
once (float64, plus an index), the memory cost Sec. IV.C names for a sorted pool.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import torch

QUOTAS = ("global", "per_image")
G_H_HALVES = ("random", "top")


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


def _check(g_h_half: str) -> None:
    if g_h_half not in G_H_HALVES:
        raise ValueError(f"mcu.g_h_half must be one of {G_H_HALVES}, not {g_h_half!r}")


def global_adaptive_sampling(scores: Sequence[np.ndarray], budgets, rng: np.random.Generator,
                             low_quantile: float = 0.5, decay: float = 0.9,
                             labelled: Sequence[np.ndarray | None] | None = None, adaptive: bool = True,
                             g_h_half: str = "random") -> list[np.ndarray]:
    """Algorithm 1 offline over a pool of images with ONE pi_high (Sec. IV.C): boolean masks, one
    per score map, of min(sum(budgets), free pixels of the pool) new pixels in all.

    scores: per-image eq. 1 score maps (any shapes); budgets: the per-image budgets (an int is the
    pool's total), whose sum M_e is the round's budget: only the sum is used, so images get
    different shares. labelled: per-image boolean masks of pixels labelled earlier (never taken
    again; None = none). adaptive=False (Table VI, "AL w/o AS"): the whole budget from G_h.
    g_h_half: see the module docstring (footnote 3). Pure numpy; the random draws (the half of G_h,
    then G_m) use `rng` over the pool in (image, raster) order."""
    _check(g_h_half)
    budget = int(np.sum(budgets))
    flats = [np.asarray(s, np.float64).ravel() for s in scores]
    sizes = [f.size for f in flats]
    flat = np.concatenate(flats) if flats else np.zeros(0)
    if labelled is None:
        free = np.ones(flat.size, bool)
    else:
        free = np.concatenate([np.ones(n, bool) if m is None else ~np.asarray(m, bool).ravel()
                               for n, m in zip(sizes, labelled)]) if flats else np.zeros(0, bool)
    chosen = np.zeros(flat.size, bool)
    fidx = np.flatnonzero(free)
    if fidx.size and budget > 0:
        fs = flat[fidx]
        ascending = np.sort(fs)

        def in_high(t: float) -> int:   # |{free S >= t}|
            return int(fs.size - np.searchsorted(ascending, t, side="left"))

        half = budget // 2 if adaptive else budget          # M_a (Alg. 1 l.6: M_e/2)
        need = 2 * half if g_h_half == "random" else half   # |G_h| = 2 M_a (footnote 3)
        pi_high, floor = float(ascending[-1]) + 1.0, float(ascending[0])
        n_high = 0
        while need and n_high < need and pi_high > floor:   # Alg. 1 l.6-8
            lower = pi_high * decay                          # l.7: pi_high = pi_high x r
            if lower <= floor or lower >= pi_high:           # reached the floor, or stuck (subnormal above 0)
                pi_high = floor
                n_high = fs.size                             # every free pixel is >= the floor
                break
            pi_high = lower
            n_high = in_high(pi_high)
        if n_high:
            high = fidx[fs >= pi_high]
            high = np.sort(high[np.argsort(-flat[high], kind="stable")][:need])   # G_h, pool order
            if g_h_half == "random":                         # footnote 3: a uniform half of G_h
                take = rng.choice(high, size=min(half, high.size), replace=False)
            else:
                take = high[np.argsort(-flat[high], kind="stable")][:half]
            chosen[take] = True
        pi_low = float(np.quantile(fs, low_quantile))
        medium = np.flatnonzero(free & ~chosen & (flat >= pi_low) & (flat < pi_high))
        take = min(budget - int(chosen.sum()), medium.size)
        if take > 0:                                         # Alg. 1 l.10: uniformly from G_m
            chosen[rng.choice(medium, size=take, replace=False)] = True
        short = budget - int(chosen.sum())
        if short > 0:   # G_m could not supply its half: the remaining free pixels by score
            rest = np.flatnonzero(free & ~chosen)
            chosen[rest[np.argsort(-flat[rest], kind="stable")][:short]] = True
    out, start = [], 0
    for s, n in zip(scores, sizes):
        out.append(chosen[start:start + n].reshape(np.shape(s)))
        start += n
    return out


def adaptive_sampling(score: np.ndarray, budget: int, rng: np.random.Generator, low_quantile: float = 0.5,
                      decay: float = 0.9, labelled: np.ndarray | None = None, adaptive: bool = True,
                      g_h_half: str = "random") -> np.ndarray:
    """Algorithm 1 offline on ONE image (quota `per_image`): a boolean mask of min(budget, free
    pixels) new pixels, half from the high group (footnote 3: a random half of a G_h of twice
    that size, or its top half), half sampled uniformly from the medium group, the rest (when the
    medium group is short) from the remaining free pixels by score (module docstring); labelled
    pixels are never taken again. adaptive=False (ADA-MCU Table VI, 'AL w/o AS'): the whole budget
    from the high group. The same as `global_adaptive_sampling` on a pool of one image."""
    return global_adaptive_sampling([score], budget, rng, low_quantile, decay,
                                    None if labelled is None else [labelled], adaptive, g_h_half)[0]


def _options(cfg: dict) -> dict:
    m = cfg["mcu"]
    return dict(low_quantile=float(m["low_quantile"]), decay=float(m["decay"]),
                adaptive=bool(m.get("adaptive_sampling", True)), g_h_half=str(m.get("g_h_half", "random")))


def mcu_quota(cfg: dict) -> str:
    """`mcu.quota` (Sec. IV.C): 'global' (default) or 'per_image'."""
    q = str(cfg["mcu"].get("quota", "global"))
    if q not in QUOTAS:
        raise ValueError(f"mcu.quota must be one of {QUOTAS}, not {q!r}")
    return q


def mcu_score(prob, prob_aux, *, cfg: dict) -> np.ndarray:
    """Pass 1 of the global selection: one image's eq. 1 score map (float32, to halve the pool's
    memory), from the (C, H, W) softmax maps of the main and auxiliary heads."""
    return np.asarray(mcu_uncertainty(prob, prob_aux, float(cfg["mcu"]["gamma"])), np.float32)


def mcu_pool_picks(scores: Sequence[np.ndarray], budgets, labelled: Sequence[np.ndarray | None] | None, *,
                   cfg: dict, rng: np.random.Generator) -> list[np.ndarray]:
    """Pass 2 of the global selection (`mcu.quota: global`): the new-pixel masks of every image of
    the pool from their score maps (`mcu_score`), the per-image budgets (only their sum counts)
    and the masks labelled in earlier rounds, with one annealed pi_high (Algorithm 1, Sec. IV.C)."""
    return global_adaptive_sampling(scores, budgets, rng, labelled=labelled, **_options(cfg))


_warned = False


def mcu_picks(prob, prob_aux, budget: int, labelled: np.ndarray, *, cfg: dict, options: dict, rng=None):
    """Registry entry (src/adaseg/registry/strategies.py, runner "model"): one image's ADA-MCU pixels,
    (new mask, picked pixels, eq. 1 score map) by adaptive sampling (Algorithm 1) with this image's
    own budget and pi_high: `mcu.quota: per_image`. `mcu.quota: global` needs every image's scores
    before any pick (`mcu_score`, then `mcu_pool_picks`); called per image under it, this falls
    back to the per-image quota and says so once."""
    global _warned
    if mcu_quota(cfg) == "global" and not _warned:
        _warned = True   # a Python warning (shown once), not a log record: the caller's own checks log
        warnings.warn("ADA-MCU: mcu.quota is 'global' but the selection called the per-image pick; this run uses "
                      "per-image quotas (the caller must score every image, then call mcu_pool_picks)",
                      RuntimeWarning, stacklevel=2)
    score = mcu_uncertainty(prob, prob_aux, float(cfg["mcu"]["gamma"]))
    new = adaptive_sampling(score, budget, rng, labelled=labelled, **_options(cfg))
    return new, [tuple(p) for p in np.argwhere(new)], score
