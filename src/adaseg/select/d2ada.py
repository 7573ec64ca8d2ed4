"""D2ADA / ADeADA (Wu et al., ECCV'22): density-aware region selection with per-class GMMs, a
category-balanced budget (eq. 6) and a density/entropy schedule over rounds (eq. 7).

Official code: tsunghan-wu/D2ADA at commit 332ad9f (file:line below relative to it).

Regions are SLIC superpixels (src/adaseg/data/superpixels.py), computed once per dataset. A region's
feature is the mean decoder feature over it, its class the argmax of its mean softmax, its
uncertainty the mean pixel entropy. Per class c, full-covariance GaussianMixture models of the source
and target region features give pi = log p_T(z|c) - log p_S(z|c) (eq. 5's summand). As in the
official active_selection/gmm_scoring.py:18-27, both domains' models of class c have
clip(N_T // 100, 1, 10) components, N_T the class's target regions (d2ada.gmm_components_from:
target; `own`: each domain's own count), and are fitted on float32 features with max_iter 200
(d2ada.gmm_max_iter) and reg_covar 1e-6 (d2ada.gmm_reg_covar). The target models are fitted on every
valid target region, labelled ones included (supplementary Algorithm 1: all target data; the official
active_selection/density_aware_selection.py:113-116 also adds the labelled regions), while labelled
regions are never selected again.

The density budget is split over classes by d2ada.class_split: `round_robin` (the official
density_aware_selection.py:157-181 with active_selection/utils.py:83-97 and
dataloader/region_active_dataset.py:25-47) or `sigmoid` (the paper's eq. 6 read literally; see
class_budgets). Round 1's density share follows the paper's eq. 7 (density_budget), not the official
code (see there).
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
    """clip(N // 100, 1, 10) mixture components for a class with N regions (official
    active_selection/gmm_scoring.py:20, N the class's target regions)."""
    return int(np.clip(n_regions // 100, 1, 10))


GMM_COMPONENTS_FROM = ("target", "own")
CLASS_SPLITS = ("round_robin", "sigmoid")
# the official values (gmm_scoring.py:24-27: sklearn's default reg_covar 1e-6, max_iter=200; the
# weighted round-robin of density_aware_selection.py:157-181); the schema's defaults
D2ADA_DEFAULTS = {"gmm_components_from": "target", "gmm_reg_covar": 1e-6, "gmm_max_iter": 200,
                  "class_split": "round_robin"}
ROUND_ROBIN_TOP = 200   # candidates per class (density_aware_selection.py:167)


def fit_class_gmm(features: np.ndarray, seed: int, components: int | None = None, *,
                  reg_covar: float = 1e-6, max_iter: int = 200) -> GaussianMixture | None:
    """A full-covariance GMM of one class's region features (float32, as the official
    gmm_scoring.py:24-27), fitted in-process (no worker pool to hang); None when there are fewer than
    2 regions (density_aware_selection.py:146).

    `components` (default n_components(len(features))) is clipped to the number of regions, so a
    class with fewer regions than the target count asks for (d2ada.gmm_components_from: target) still
    fits (sklearn refuses n_components > n_samples). A singular covariance: reg_covar is added to
    every covariance's diagonal, which makes it positive definite in exact arithmetic, but with fewer
    regions than feature dimensions (or repeated features) the Cholesky factorisation can still fail
    in float32, where sklearn raises "ill-defined empirical covariance". The fit is then retried in
    float64 at the same reg_covar, and after that with reg_covar x10 per try up to 1 (a warning names
    the value used); when every try fails, None (the class is not scored, like a class with one
    region)."""
    if len(features) < 2:
        return None
    k = min(n_components(len(features)) if components is None else int(components), len(features))
    x = np.asarray(features, dtype=np.float32)
    tries = [(np.float32, reg_covar), (np.float64, reg_covar)]
    reg = reg_covar * 10
    while reg <= 1.0 + 1e-12:
        tries.append((np.float64, reg))
        reg *= 10
    for n, (dtype, reg) in enumerate(tries):
        try:
            g = GaussianMixture(n_components=k, covariance_type="full", random_state=seed, reg_covar=reg,
                                max_iter=int(max_iter)).fit(x.astype(dtype))
        except ValueError as e:
            if "ill-defined empirical covariance" not in str(e):
                raise
            continue
        if n:
            log.warning("GMM of %d regions x %d features (%d components): singular covariance at reg_covar %g in "
                        "float32; fitted in float64 with reg_covar %g", len(x), x.shape[1], k, reg_covar, reg)
        return g
    log.warning("GMM of %d regions x %d features (%d components): singular covariance up to reg_covar 1; the "
                "class is not scored", len(x), x.shape[1], k)
    return None


def fit_domain_gmms(src_feats: np.ndarray, tgt_feats: np.ndarray, seed: int, dcfg: dict):
    """(source GMM, target GMM) of one class. d2ada.gmm_components_from `target` (official
    gmm_scoring.py:18-20, 24-27): both get n_components(number of target regions), each clipped to
    its own region count; `own`: each domain's own count. d2ada.gmm_reg_covar, d2ada.gmm_max_iter as
    in fit_class_gmm."""
    opt = {k: dcfg.get(k, v) for k, v in D2ADA_DEFAULTS.items()}
    if opt["gmm_components_from"] not in GMM_COMPONENTS_FROM:
        raise ValueError(f"unknown d2ada.gmm_components_from '{opt['gmm_components_from']}' "
                         f"({', '.join(GMM_COMPONENTS_FROM)})")
    kw = dict(reg_covar=float(opt["gmm_reg_covar"]), max_iter=int(opt["gmm_max_iter"]))
    if opt["gmm_components_from"] == "target":
        if len(tgt_feats) < 2:   # the official fits neither model then (gmm_scoring.py:23)
            return None, None
        k = n_components(len(tgt_feats))
        return fit_class_gmm(src_feats, seed, k, **kw), fit_class_gmm(tgt_feats, seed, k, **kw)
    return fit_class_gmm(src_feats, seed, **kw), fit_class_gmm(tgt_feats, seed, **kw)


def density_scores(target_feats: np.ndarray, target_cls: np.ndarray, gmms_t: dict, gmms_s: dict) -> np.ndarray:
    """pi = log p_T(z|c) - log p_S(z|c) for every target region; -inf where a class lacks a model.
    Features are scored in each model's own precision (float32 as fitted, float64 after a fallback)."""
    pi = np.full(len(target_feats), -np.inf)
    for c in np.unique(target_cls):
        if gmms_t.get(c) is None or gmms_s.get(c) is None:
            continue
        rows = target_cls == c
        z = target_feats[rows]
        pi[rows] = (gmms_t[c].score_samples(z.astype(gmms_t[c].means_.dtype)).astype(np.float64)
                    - gmms_s[c].score_samples(z.astype(gmms_s[c].means_.dtype)).astype(np.float64))
    return pi


def density_budget(round_k: int, budget: int, alpha: float, beta: float) -> int:
    """Eq. 7: B_d^k = alpha * 2^(-beta (k - 1)) * B^k (B_u^k = B^k - B_d^k), rounds k = 1, 2, ...

    The paper's eq. 7 is followed on purpose. The official train_ADA.py:58, 81-83 computes
    Lambda = alpha * 2^(beta (1 - selection_iter)) with selection_iter starting at 0
    (dataloader/region_active_dataset.py:12), so its first selection gives B_d = 2 alpha B to density
    and B_u = (1 - 2 alpha) B (negative for alpha = 1) to entropy: an off-by-one in the official code
    that contradicts the paper's eq. 7 and the repository's own README."""
    return int(round(alpha * 2.0 ** (-beta * (round_k - 1)) * budget))


def class_budgets(pi: np.ndarray, cls: np.ndarray, num_classes: int, budget_d: int) -> np.ndarray:
    """d2ada.class_split `sigmoid`: eq. 6, B_{d,c} = sigma(KL_c) / sum_i sigma(KL_i) * B_d, KL_c = mean
    pi of class c's regions (eq. 5), sigma = the logistic function; classes without scored regions
    get nothing. With |KL_c| of tens or more (log-density ratios of high-dimensional features) sigma
    saturates at 1, so the split is uniform over the scored classes."""
    weights = np.zeros(num_classes)
    for c in range(num_classes):
        v = pi[(cls == c) & np.isfinite(pi)]
        if v.size:
            weights[c] = 1.0 / (1.0 + np.exp(-v.mean()))
    if weights.sum() == 0:
        return np.zeros(num_classes, dtype=np.int64)
    return np.floor(weights / weights.sum() * budget_d).astype(np.int64)


def round_robin_weights(pi: np.ndarray, cls: np.ndarray, num_classes: int) -> dict[int, int]:
    """d2ada.class_split `round_robin`: each scored class's weight int(log10 |mean pi|) over all its
    scored target regions, labelled ones included (density_aware_selection.py:158-160, the mean over
    every target region of the class; int() truncates toward 0), raised to at least 1. The official
    weighted round-robin (active_selection/utils.py:83-97) never marks a non-empty class list done
    when its weight is <= 0 (any |mean| < 10) and loops forever; max(weight, 1) takes one region per
    turn from such a class instead. Classes without scored regions get no list."""
    weights = {}
    for c in range(num_classes):
        v = pi[(cls == c) & np.isfinite(pi)]
        if v.size:
            m = abs(float(v.mean()))
            weights[c] = max(int(np.log10(m)) if m > 0 else 0, 1)
    return weights


def weighted_round_robin(lists: list[list[int]], weights: list[int]) -> list[int]:
    """active_selection/utils.py:83-97: turn by turn over the lists in order, list i gives its next
    weights[i] items, until every list is empty (a weight below 1 counts as 1, see
    round_robin_weights)."""
    out, pos = [], [0] * len(lists)
    while any(p < len(items) for p, items in zip(pos, lists)):
        for i, items in enumerate(lists):
            take = items[pos[i]:pos[i] + max(int(weights[i]), 1)]
            out += take
            pos[i] += len(take)
    return out


def round_robin_order(pi: np.ndarray, cls: np.ndarray, labelled: np.ndarray, num_classes: int,
                      top: int = ROUND_ROBIN_TOP) -> list[int]:
    """The official density order (density_aware_selection.py:164-181): per scored class, in class
    order, its `top` target regions by pi (labelled ones take part in the ranking) less the labelled
    ones, merged by weighted_round_robin with round_robin_weights."""
    weights = round_robin_weights(pi, cls, num_classes)
    lists = []
    for c in weights:
        rows = np.flatnonzero((cls == c) & np.isfinite(pi))
        best = rows[np.argsort(-pi[rows], kind="stable")][:top]
        lists.append([int(r) for r in best if not labelled[r]])
    return weighted_round_robin(lists, list(weights.values()))


def select_regions(pi: np.ndarray, entropy: np.ndarray, cls: np.ndarray, pixels: np.ndarray,
                   labelled: np.ndarray, num_classes: int, budget: int, budget_d: int,
                   category_balance: bool = True, class_split: str = "round_robin") -> list[int]:
    """Density picks, then picks by `entropy` (the second order: highest first) until the round
    budget B^k; never a labelled region.

    class_split `round_robin` (official, density_aware_selection.py:157-181): the regions in
    round_robin_order, taken one by one until their pixels exceed B_d: the region that crosses B_d
    is kept (dataloader/region_active_dataset.py:25-47), so the density picks, and with them the
    round, may exceed their budget by less than one region. `sigmoid`: per class, highest pi first,
    within B_{d,c} of class_budgets and never above B. Either way the second-order picks then fill
    what is left of B without exceeding it (what the density picks leave goes to them too).
    category_balance=False (D2ADA Table 2, row b): density picks by pi over all classes within B_d."""
    if class_split not in CLASS_SPLITS:
        raise ValueError(f"unknown d2ada.class_split '{class_split}' ({', '.join(CLASS_SPLITS)})")
    chosen: list[int] = []
    taken = labelled.astype(bool).copy()
    used = 0
    if category_balance and class_split == "round_robin":
        per_class = []
        for r in (round_robin_order(pi, cls, taken, num_classes) if budget_d > 0 else []):
            chosen.append(r)
            taken[r] = True
            used += int(pixels[r])
            if used > budget_d:
                break
    elif category_balance:
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
        out.update({k: h5[k][:] for k in ("true_loss", "true_cls") if k in h5})   # oracle columns, if any
        out["ids"] = read_ids(h5)
        out["num_classes"] = int(h5.attrs["num_classes"])
    return out


def second_order(tgt: dict, s, seed: int, round_k: int, budget: int, path) -> np.ndarray:
    """What ranks the regions outside the density budget (higher first), by options["order"]: their
    mean pixel entropy (D2ADA's uncertainty part and the region-entropy baseline), a seeded random
    score (random superpixels) or, for the oracles, their mean true loss, optionally class-balanced
    (src/adaseg/select/oracle.py; each true class's share of the pool estimated from the superpixels'
    majority classes, weighted by their pixels)."""
    order = s.options.get("order", "entropy")
    if order == "entropy":
        return tgt["entropy"]
    if order == "random":
        return np.random.default_rng([seed, 17, round_k]).random(len(tgt["entropy"]))
    if "true_loss" not in tgt:
        raise InputFileError(f"{s.name} is an oracle: it selects with the target's ground truth, but region dump "
                             f"'{path}' has no true-loss columns (its pool has no label files, labels: none)")
    if not s.options.get("balanced"):
        return tgt["true_loss"].astype(np.float64)
    from .diversity import order_scores
    from .oracle import balanced_order, class_shares

    ncls = int(tgt["num_classes"])
    cls = tgt["true_cls"].astype(np.int64)
    ok = cls >= 0
    share = class_shares(np.bincount(cls[ok], weights=tgt["pixels"][ok], minlength=ncls)[:ncls])
    return order_scores(len(cls), balanced_order(tgt["true_loss"], np.where(ok, cls, -1), tgt["pixels"], share, budget))


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
            gmms_s[c], gmms_t[c] = fit_domain_gmms(src["feature"][s_rows], tgt["feature"][t_rows], seed, dcfg)
            for dom, g in (("source", gmms_s[c]), ("target", gmms_t[c])):
                if g is not None:
                    params.update({f"{dom}_{c}_weights": g.weights_, f"{dom}_{c}_means": g.means_,
                                   f"{dom}_{c}_covariances": g.covariances_})
        pi = density_scores(tgt["feature"], tgt["cls"], gmms_t, gmms_s)
        pi[tgt["valid"] == 0] = -np.inf
        alpha = float((dcfg.get("alpha_by_source") or {}).get(source, dcfg["alpha"]))
        budget_d = density_budget(round_k, budget, alpha, float(dcfg["beta"])) if density else 0
        chosen = select_regions(pi, second_order(tgt, s, seed, round_k, budget, target_regions), tgt["cls"],
                                tgt["pixels"], labelled, ncls, budget, budget_d,
                                bool(dcfg.get("category_balance", True)),
                                str(dcfg.get("class_split", D2ADA_DEFAULTS["class_split"])))
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
        if new_px <= budget:   # whole superpixels only: what is left is smaller than any free superpixel
            log.info("%s: %s new px of a %s px budget in %d superpixels (%s px short: no free superpixel fits)",
                     who, f"{new_px:,}", f"{budget:,}", len(chosen), f"{budget - new_px:,}")
        else:   # d2ada.class_split round_robin: the density picks stop right after exceeding B_d
            log.info("%s: %s new px of a %s px budget in %d superpixels (%s px over: the density picks stop "
                     "right after exceeding their %s px, as the official code)", who, f"{new_px:,}",
                     f"{budget:,}", len(chosen), f"{new_px - budget:,}", f"{budget_d:,}")
        return sel
