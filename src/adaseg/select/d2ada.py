"""D2ADA / ADeADA (Wu et al., ECCV'22): density-aware region selection with per-class GMMs, a
category-balanced budget (eq. 6) and a density/entropy schedule over rounds (eq. 7).

Regions are SLIC superpixels (scikit-image), computed once per dataset. A region's feature is the
mean decoder feature over it, its class the argmax of its mean softmax, its uncertainty the mean
pixel entropy. Per class c, GaussianMixture models (full covariance, clip(N/100, 1, 10) components)
of the source and target region features give pi = log p_T(z|c) - log p_S(z|c) (eq. 5's summand).
"""
from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture


def n_components(n_regions: int) -> int:
    """clip(N / 100, 1, 10) mixture components for a class with N regions."""
    return int(np.clip(n_regions // 100, 1, 10))


def fit_class_gmm(features: np.ndarray, seed: int) -> GaussianMixture | None:
    """A full-covariance GMM of one class's region features, fitted in-process (no worker pool to
    hang); None when there are too few regions to estimate a covariance."""
    if len(features) < 2:
        return None
    k = min(n_components(len(features)), len(features))
    return GaussianMixture(n_components=k, covariance_type="full", random_state=seed, reg_covar=1e-4).fit(
        features.astype(np.float64))


def density_scores(target_feats: np.ndarray, target_cls: np.ndarray, gmms_t: dict, gmms_s: dict) -> np.ndarray:
    """pi = log p_T(z|c) - log p_S(z|c) for every target region; -inf where a class lacks a model."""
    pi = np.full(len(target_feats), -np.inf)
    for c in np.unique(target_cls):
        if gmms_t.get(c) is None or gmms_s.get(c) is None:
            continue
        rows = target_cls == c
        z = target_feats[rows].astype(np.float64)
        pi[rows] = gmms_t[c].score_samples(z) - gmms_s[c].score_samples(z)
    return pi


def density_budget(round_k: int, budget: int, alpha: float, beta: float) -> int:
    """Eq. 7: B_d^k = alpha * 2^(-beta (k - 1)) * B^k (B_u^k = B^k - B_d^k)."""
    return int(round(alpha * 2.0 ** (-beta * (round_k - 1)) * budget))


def class_budgets(pi: np.ndarray, cls: np.ndarray, num_classes: int, budget_d: int) -> np.ndarray:
    """Eq. 6: B_{d,c} = sigma(KL_c) / sum_i sigma(KL_i) * B_d, KL_c = mean pi of class c's regions
    (eq. 5), sigma = the logistic function; classes without scored regions get nothing."""
    weights = np.zeros(num_classes)
    for c in range(num_classes):
        v = pi[(cls == c) & np.isfinite(pi)]
        if v.size:
            weights[c] = 1.0 / (1.0 + np.exp(-v.mean()))
    if weights.sum() == 0:
        return np.zeros(num_classes, dtype=np.int64)
    return np.floor(weights / weights.sum() * budget_d).astype(np.int64)


def select_regions(pi: np.ndarray, entropy: np.ndarray, cls: np.ndarray, pixels: np.ndarray,
                   labelled: np.ndarray, num_classes: int, budget: int, budget_d: int,
                   category_balance: bool = True) -> list[int]:
    """Density picks per class (highest pi first, within B_{d,c}), then entropy picks until the
    round budget B^k; never a labelled region, never more than `budget` pixels in all.
    category_balance=False (D2ADA Table 2, row b): density picks by pi over all classes within B_d."""
    chosen: list[int] = []
    taken = labelled.astype(bool).copy()
    used = 0
    if category_balance:
        per_class = enumerate(class_budgets(np.where(taken, -np.inf, pi), cls, num_classes, budget_d))
    else:
        per_class = [(None, budget_d)]
    for c, b_c in per_class:
        used_c = 0
        for r in np.argsort(-pi, kind="stable"):
            if (c is not None and cls[r] != c) or taken[r] or not np.isfinite(pi[r]):
                continue
            if used_c + pixels[r] > b_c or used + pixels[r] > budget:
                continue
            chosen.append(int(r))
            taken[r] = True
            used_c += int(pixels[r])
            used += int(pixels[r])
    for r in np.argsort(-entropy, kind="stable"):
        if taken[r] or used + pixels[r] > budget:
            continue
        chosen.append(int(r))
        taken[r] = True
        used += int(pixels[r])
    return chosen
