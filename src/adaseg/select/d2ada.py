"""D2ADA / ADeADA (Wu et al., ECCV'22): density-aware region selection with per-class GMMs, a
category-balanced budget (eq. 6) and a density/entropy schedule over rounds (eq. 7).

Regions are SLIC superpixels (scikit-image), computed once per dataset. A region's feature is the
mean decoder feature over it, its class the argmax of its mean softmax, its uncertainty the mean
pixel entropy. Per class c, GaussianMixture models (full covariance, clip(N/100, 1, 10) components)
of the source and target region features give pi = log p_T(z|c) - log p_S(z|c) (eq. 5's summand);
the target models are fitted on every valid target region, labelled ones included (supplementary
Algorithm 1: all target data), while labelled regions are never selected again.
"""
from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

import h5py
import numpy as np
from sklearn.mixture import GaussianMixture

from ..errors import BudgetError, InputFileError
from ..io import atomic_path, create_planes, open_h5, open_masks, plane, read_ids, save_npz, write_ids, write_plane
from ..registry import strategy as registered_strategy
from .checks import CHAIN_BUDGET, check_percent, differing_ids, foreign_masks, percent_for
from .selection_list import budget_pixels, write_selection

log = logging.getLogger("adaseg")


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


def _read_regions(path: str | Path) -> dict:
    fields = ("image", "segment", "pixels", "cls", "entropy", "feature", "valid")
    with open_h5(path, "region-feature dump", need=fields + ("ids",)) as h5:
        out = {k: h5[k][:] for k in ("image", "segment", "pixels", "cls", "entropy", "feature", "valid")}
        out["ids"] = read_ids(h5)
        out["num_classes"] = int(h5.attrs["num_classes"])
    return out


def run_d2ada(cfg: dict, *, strategy: str, target_regions: str, superpixels: str, round_k: int,
              budget_percent: float, out: str | Path, masks_out: str | Path, gmm_out: str | Path,
              source_regions: str | None = None, previous_masks: str | None = None, source: str | None = None) -> dict:
    """One D2ADA round (registry runner "superpixel"): GMM densities (fitted in-process and saved), pi
    scores, the eq. 6/7 budgets, region picks, and the cumulative label masks of every target
    training image. A strategy without options["density"] (region_entropy, the superpixel entropy
    baseline) has no density budget and no GMMs.
    Eq. 7's alpha is d2ada.alpha_by_source[source] when given (the paper: 0.5 for SYNTHIA), else d2ada.alpha.

    The budget is `budget_percent` of the whole pool's pixels (D2ADA's budget is the pool's); a
    BudgetError when it is outside (0, 100], when it exceeds the pool's free (not yet labelled)
    pixels (beyond half a pixel per earlier round of rounding), or when it is smaller than every
    free superpixel, so that nothing would be selected."""
    s = registered_strategy(strategy)
    if s.runner != "superpixel":
        raise ValueError(f"'{strategy}' is not a superpixel strategy (it is run by the {s.runner} runner)")
    who = f"{s.name} round {round_k}"
    check_percent(budget_percent, who, "the target training pixels", CHAIN_BUDGET)
    density = bool(s.options.get("density"))
    with ExitStack() as stack:  # the superpixel and previous-mask files, closed on any exit
        dcfg, seed = cfg["d2ada"], int(cfg["seed"])
        if density and not source_regions:
            raise ValueError(f"{strategy} needs --source-regions (the source densities p_S)")
        src = _read_regions(source_regions) if density else None
        tgt = _read_regions(target_regions)
        ncls = tgt["num_classes"]
        sp = stack.enter_context(open_h5(superpixels, "superpixels file", need=("ids", "segments")))
        segments = sp["segments"]
        if read_ids(sp) != tgt["ids"]:
            raise InputFileError(f"superpixels '{superpixels}' and region dump '{target_regions}' list different "
                                 f"images ({differing_ids(read_ids(sp), tgt['ids'])}); rebuild the region dump from "
                                 "these superpixels (rule region_features, adaseg region-features --superpixels)")
        n_img = segments.shape[0]
        prev_set = None
        if previous_masks:
            prev_ids, prev_set = stack.enter_context(open_masks(previous_masks))
            if prev_ids != tgt["ids"]:
                raise foreign_masks(previous_masks, prev_ids, tgt["ids"], "target", round_k)

        def segments_of(i: int) -> np.ndarray:
            return plane(segments, i)

        def previous(i: int) -> np.ndarray:
            return plane(prev_set, i).astype(bool) if prev_set is not None else np.zeros(segments_of(i).shape, bool)

        # a region is labelled when all its pixels are (counted per image with bincount)
        labelled = np.zeros(len(tgt["image"]), bool)
        labelled_px = 0
        if prev_set is not None:
            order = np.argsort(tgt["image"], kind="stable")
            bounds = np.searchsorted(tgt["image"][order], np.arange(n_img + 1))
            for i in range(n_img):
                rows = order[bounds[i]:bounds[i + 1]]
                seg = segments_of(i).astype(np.int64)
                before = previous(i)
                if before.shape != seg.shape:
                    raise InputFileError(f"'{previous_masks}': the mask of '{tgt['ids'][i]}' is "
                                         f"{before.shape[0]}x{before.shape[1]} but its superpixels are "
                                         f"{seg.shape[0]}x{seg.shape[1]}; pass --previous-masks the masks of the "
                                         "previous round of this chain, selected on these superpixels")
                labelled_px += int(np.count_nonzero(before))
                n = int(seg.max()) + 1
                done = np.bincount(seg[before], minlength=n) == np.bincount(seg.ravel(), minlength=n)
                labelled[rows] = done[tgt["segment"][rows]]
        pool = int(sum(h * w for h, w in sp["sizes"][:])) if "sizes" in sp else n_img * int(np.prod(segments.shape[1:]))
        budget = budget_pixels(budget_percent / 100.0, pool)
        free_px = pool - labelled_px
        if budget > free_px + round_k // 2:   # + half a pixel per round: the rounding of the rounds' budgets
            raise BudgetError(f"{who} asks for {budget:,} px ({budget_percent:g}% of the pool) but only {free_px:,} of "
                              f"the {pool:,} px of the pool are not labelled yet ('{previous_masks}' labels "
                              f"{labelled_px:,}): lower {CHAIN_BUDGET} so that its rounds add up to at most 100%, "
                              "or pass the masks of this chain's previous round")
        free_regions = tgt["pixels"][~labelled]
        if free_regions.size == 0:
            raise BudgetError(f"'{out}': {who}: every superpixel of '{superpixels}' is labelled already "
                              f"('{previous_masks}'), so no region can be selected; lower {CHAIN_BUDGET}")
        if budget < int(free_regions.min()):
            least = int(free_regions.min())
            raise BudgetError(f"'{out}': {who}: a budget of {budget_percent:g}% is {budget:,} px, less than the smallest "
                              f"free superpixel ({least:,} px), so no region would be selected; use at least "
                              f"{percent_for(least, pool):g}% per round (a chain <budget> of that x "
                              "multi_round.rounds; d2ada.n_segments sets the superpixel size)")
        gmms_s, gmms_t, params = {}, {}, {}
        for c in range(ncls if density else 0):
            s_rows = (src["cls"] == c) & (src["valid"] > 0)
            t_rows = (tgt["cls"] == c) & (tgt["valid"] > 0)  # all target data, labelled too (suppl. Alg. 1)
            gmms_s[c] = fit_class_gmm(src["feature"][s_rows], seed)
            gmms_t[c] = fit_class_gmm(tgt["feature"][t_rows], seed)
            for dom, g in (("source", gmms_s[c]), ("target", gmms_t[c])):
                if g is not None:
                    params.update({f"{dom}_{c}_weights": g.weights_, f"{dom}_{c}_means": g.means_,
                                   f"{dom}_{c}_covariances": g.covariances_})
        pi = density_scores(tgt["feature"], tgt["cls"], gmms_t, gmms_s)
        pi[tgt["valid"] == 0] = -np.inf
        alpha = float((dcfg.get("alpha_by_source") or {}).get(source, dcfg["alpha"]))
        budget_d = density_budget(round_k, budget, alpha, float(dcfg["beta"])) if density else 0
        chosen = select_regions(pi, tgt["entropy"], tgt["cls"], tgt["pixels"], labelled, ncls, budget, budget_d,
                                bool(dcfg["category_balance"]))
        save_npz(gmm_out, pi=pi, **params)
        new_px = 0
        per_image: dict[int, list[int]] = {}
        for r in chosen:
            per_image.setdefault(int(tgt["image"][r]), []).append(int(tgt["segment"][r]))
        entries = []
        with atomic_path(masks_out) as tmp, h5py.File(tmp, "w") as h5:
            write_ids(h5, tgt["ids"])
            masks = create_planes(h5, "masks", sp["sizes"][:] if "sizes" in sp else [segments.shape[1:]] * n_img, "u1")
            h5.attrs.update(strategy=strategy, round=round_k)
            for i in range(n_img):
                before = previous(i)
                new = np.isin(segments_of(i), per_image.get(i, [])) & ~before
                mask = before | new
                write_plane(masks, i, mask.astype(np.uint8))
                new_px += int(new.sum())
                if mask.any():
                    entries.append({"id": tgt["ids"][i], "pixels": int(mask.sum()), "new_pixels": int(new.sum()),
                                    "picks": len(per_image.get(i, [])), "score": 0.0})
        sel = dict(strategy=s.name, unit=s.unit, seed=seed, round=round_k, budget_fraction=budget_percent / 100.0,
                   pool_images=n_img, pool_pixels=pool, budget_pixels=budget, density_budget_pixels=budget_d,
                   pixels_labelled=new_px, pixels_labelled_total=int(sum(e["pixels"] for e in entries)),
                   regions=len(chosen), mask_file=str(masks_out), selected=entries)
        write_selection(out, sel)
        # whole superpixels only: what is left of the budget is smaller than any free superpixel
        log.info("%s: %s new px of a %s px budget in %d superpixels (%s px short: no free superpixel fits)",
                 who, f"{new_px:,}", f"{budget:,}", len(chosen), f"{budget - new_px:,}")
        return sel
