"""adaseg.select.d2ada: density score (eq. 5), class budgets (eq. 6), schedule (eq. 7) and region picks, by hand."""
import logging

import numpy as np
import pytest

from adaseg.select.d2ada import (class_budgets, density_budget, density_scores, fit_class_gmm, fit_domain_gmms,
                                 n_components, round_robin_order, round_robin_weights, select_regions,
                                 weighted_round_robin)


def test_components_rule():
    assert [n_components(n) for n in (5, 150, 999, 5000)] == [1, 1, 9, 10]


def test_density_score_is_log_ratio_of_class_gmms():
    # one component each: source N(0, 1) from {-1, 1}, target N(2, 1) from {1, 3} (ML variance 1)
    gs = fit_class_gmm(np.array([[-1.0], [1.0]]), seed=0)
    gt = fit_class_gmm(np.array([[1.0], [3.0]]), seed=0)
    # at z = 2: log N(2; 2, 1) - log N(2; 0, 1) = 0 - (-4 / 2) = 2 (up to reg_covar)
    pi = density_scores(np.array([[2.0], [0.0]]), np.array([0, 0]), {0: gt}, {0: gs})
    assert pi == pytest.approx([2.0, -2.0], abs=1e-3)
    # a class without a source model cannot be scored
    assert density_scores(np.array([[2.0]]), np.array([1]), {1: gt}, {1: None})[0] == -np.inf
    assert fit_class_gmm(np.array([[1.0]]), 0) is None


def test_schedule_eq7_by_hand():
    # alpha = beta = 1 (GTA5): rounds 1..3 give B, B/2, B/4 to density, the rest to entropy
    assert [density_budget(k, 1000, 1.0, 1.0) for k in (1, 2, 3)] == [1000, 500, 250]
    # alpha = 0.5 (SYNTHIA)
    assert density_budget(1, 1000, 0.5, 1.0) == 500


def test_category_balanced_budget_eq6_by_hand():
    pi = np.array([0.0, 0.0, 50.0, -np.inf])
    cls = np.array([0, 0, 1, 2])
    # KL_0 = 0 -> sigmoid 0.5; KL_1 = 50 -> 1 (in double); class 2 unscored -> 0: 1/3 and 2/3 of 900
    assert class_budgets(pi, cls, 3, 900).tolist() == [300, 600, 0]


def test_region_picks_density_then_entropy_within_budget():
    pi = np.array([3.0, 2.0, 1.0, -np.inf])
    ent = np.array([0.1, 0.2, 0.3, 0.9])
    cls = np.array([0, 0, 0, 1])
    px = np.array([10, 10, 10, 10])
    labelled = np.array([False, False, False, False])
    # sigmoid: all density budget to class 0 (the only scored class): 20 px -> regions 0, 1; then entropy: 3
    assert select_regions(pi, ent, cls, px, labelled, 2, budget=30, budget_d=20, class_split="sigmoid") == [0, 1, 3]
    # a labelled region is never picked again
    assert 0 not in select_regions(pi, ent, cls, px, np.array([True, False, False, False]), 2, 30, 20,
                                   class_split="sigmoid")
    # never more than the budget
    assert len(select_regions(pi, ent, cls, px, labelled, 2, budget=25, budget_d=20, class_split="sigmoid")) == 2
    # round_robin (the default): 0, 1 reach 20 px = B_d, not above it, so 2 is taken too (30 px > 20)
    assert select_regions(pi, ent, cls, px, labelled, 2, budget=30, budget_d=20) == [0, 1, 2]


# the weighted round-robin hand case: 7 regions of 10 px, 3 classes
#   class 0: regions 0, 1, 2 with pi 200, 150, 100 -> |mean| 150, int(log10 150) = 2
#   class 1: regions 3, 4 with pi 6, 4           -> |mean| 5,   int(log10 5) = 0 -> 1
#   class 2: regions 5, 6 with pi 0.1, 0.0       -> |mean| 0.05, int(log10 0.05) = -1 -> 1
RR_PI = np.array([200.0, 150.0, 100.0, 6.0, 4.0, 0.1, 0.0])
RR_CLS = np.array([0, 0, 0, 1, 1, 2, 2])


def test_round_robin_weights_by_hand():
    """tsunghan-wu/D2ADA active_selection/density_aware_selection.py:158-160: int(log10 |mean pi|),
    raised to 1 (the official loops forever on a weight <= 0); a class without scores has no list."""
    assert round_robin_weights(RR_PI, RR_CLS, 4) == {0: 2, 1: 1, 2: 1}
    assert round_robin_weights(np.array([-np.inf, 3.0, -3.0]), np.array([0, 1, 1]), 2) == {1: 1}   # mean 0


def test_weighted_round_robin_by_hand_and_zero_weight_ends():
    """active_selection/utils.py:83-97: each turn class i gives weights[i] items; a weight of 0 (which
    never ends in the official code) takes one item per turn."""
    assert weighted_round_robin([[0, 1, 2], [3, 4], [5, 6]], [2, 1, 1]) == [0, 1, 3, 5, 2, 4, 6]
    assert weighted_round_robin([[1, 2], [3]], [0, 1]) == [1, 3, 2]
    assert weighted_round_robin([[1, 2], [], [3]], [-1, 5, 0]) == [1, 3, 2]
    assert round_robin_order(RR_PI, RR_CLS, np.zeros(7, bool), 3) == [0, 1, 3, 5, 2, 4, 6]
    # a labelled region keeps its place in the ranking and in the class mean, but is not a candidate
    labelled = np.array([False, True, False, False, False, False, False])
    assert round_robin_weights(RR_PI, RR_CLS, 3) == {0: 2, 1: 1, 2: 1}
    assert round_robin_order(RR_PI, RR_CLS, labelled, 3) == [0, 2, 3, 5, 4, 6]


def test_round_robin_split_stops_right_after_exceeding_the_density_budget():
    """density_aware_selection.py:181 + dataloader/region_active_dataset.py:25-47: regions in
    round-robin order until their pixels exceed B_d (the crossing region is kept); then entropy fills
    what is left of B without exceeding it."""
    px = np.full(7, 10)
    ent = np.array([0.0, 0.0, 0.5, 0.0, 0.1, 0.0, 0.9])
    free = np.zeros(7, bool)
    # B_d = 35: 0, 1, 3 (30 px), 5 (40 px > 35: stop); entropy: 6 (50), 2 (60 = B), 4 would exceed
    assert select_regions(RR_PI, ent, RR_CLS, px, free, 3, budget=60, budget_d=35) == [0, 1, 3, 5, 6, 2]
    # B_d = 40: 5 reaches 40, not above: 2 is taken too (50 px); entropy: 6 (60)
    assert select_regions(RR_PI, ent, RR_CLS, px, free, 3, budget=60, budget_d=40) == [0, 1, 3, 5, 2, 6]
    # B_d = B = 35 (round 1): the round ends 5 px over its budget, as the official code
    assert select_regions(RR_PI, ent, RR_CLS, px, free, 3, budget=35, budget_d=35) == [0, 1, 3, 5]
    # no density budget: entropy only
    assert select_regions(RR_PI, ent, RR_CLS, px, free, 3, budget=20, budget_d=0) == [6, 2]


def test_round_robin_takes_the_top_200_of_a_class():
    pi = np.arange(250.0)[::-1] + 1000       # region r has rank r
    order = round_robin_order(pi, np.zeros(250, int), np.zeros(250, bool), 1)
    assert order == list(range(200))


def test_gmm_components_from_the_target_count_for_both_domains():
    """tsunghan-wu/D2ADA active_selection/gmm_scoring.py:18-27: both GMMs of a class get
    clip(N_target // 100, 1, 10) components, here 250 // 100 = 2 (the source's 350 would give 3);
    `own` gives each domain its own count; a domain with fewer regions than that is clipped."""
    rng = np.random.default_rng(0)
    src, tgt = rng.normal(size=(350, 2)), rng.normal(size=(250, 2)) + 1
    gs, gt = fit_domain_gmms(src, tgt, 0, {})
    assert (gs.n_components, gt.n_components) == (2, 2)
    assert (gs.max_iter, gs.reg_covar, gs.means_.dtype) == (200, 1e-6, np.float32)
    gs, gt = fit_domain_gmms(src, tgt, 0, {"gmm_components_from": "own", "gmm_reg_covar": 1e-4, "gmm_max_iter": 50})
    assert (gs.n_components, gt.n_components) == (3, 2) and (gs.reg_covar, gs.max_iter) == (1e-4, 50)
    # 1,000 target regions ask for 10 components; 3 source regions fit 3; 1 source region: no model
    gs, gt = fit_domain_gmms(src[:3], rng.normal(size=(1000, 2)), 0, {})
    assert (gs.n_components, gt.n_components) == (3, 10)
    assert fit_domain_gmms(src[:1], tgt, 0, {})[0] is None
    assert fit_domain_gmms(src, tgt[:1], 0, {}) == (None, None)     # the official fits neither


def test_singular_covariance_falls_back_to_float64(caplog):
    """Regions on a line far from 0: reg_covar 1e-6 does not make the float32 Cholesky succeed
    (sklearn: ill-defined empirical covariance); the fit is retried in float64 and scores finitely."""
    rng = np.random.default_rng(0)
    x = (1e4 + rng.normal(size=(6, 1)) * 1e3 * rng.normal(size=(1, 8))).astype(np.float32)
    with caplog.at_level(logging.WARNING, logger="adaseg"):
        g = fit_class_gmm(x, 0)
    assert g is not None and g.means_.dtype == np.float64 and "singular covariance" in caplog.text
    assert np.isfinite(density_scores(x, np.zeros(6, int), {0: g}, {0: g})).all()


def write_d2ada_inputs(tmp_path, n_img: int = 3, labelled_segments=((0, 0), (1, 2)), ids=None):
    """Hand-made D2ADA inputs of n_img 8x8 images with four 4x4 superpixels each: the superpixels, the
    target and source region dumps (2 classes, 2-d features) and the masks of an earlier round that
    label the (image, segment) regions given. Returns the file paths and the target dump's arrays."""
    import h5py

    from adaseg.io import create_planes, write_ids, write_plane

    ids = ids or [f"img{i}" for i in range(n_img)]
    seg = np.zeros((8, 8), np.int16)
    seg[:4, 4:], seg[4:, :4], seg[4:, 4:] = 1, 2, 3
    rng = np.random.default_rng(0)
    paths = {k: tmp_path / f"{k}.h5" for k in ("superpixels", "target", "source", "masks")}
    with h5py.File(paths["superpixels"], "w") as h5:
        write_ids(h5, ids)
        planes = create_planes(h5, "segments", [(8, 8)] * n_img, "i2")
        for i in range(n_img):
            write_plane(planes, i, seg)
    arrays = {}
    for dom in ("target", "source"):
        n = n_img * 4
        a = {"image": np.repeat(np.arange(n_img), 4).astype("i4"), "segment": np.tile(np.arange(4), n_img).astype("i2"),
             "pixels": np.full(n, 16, "i8"), "cls": (np.arange(n) % 2).astype("i2"),
             "entropy": rng.random(n).astype("f4"), "feature": rng.normal(size=(n, 2)).astype("f4"),
             "valid": np.ones(n, "u1")}
        if dom == "target":   # the labelled regions lie far from the others: a fit without them differs
            for i, s in labelled_segments:
                a["feature"][i * 4 + s] += 8.0
        with h5py.File(paths[dom], "w") as h5:
            write_ids(h5, ids)
            for key, v in a.items():
                h5.create_dataset(key, data=v)
            h5.attrs["num_classes"] = 2
        arrays[dom] = a
    with h5py.File(paths["masks"], "w") as h5:
        write_ids(h5, ids)
        masks = create_planes(h5, "masks", [(8, 8)] * n_img, "u1")
        for i in range(n_img):
            write_plane(masks, i, np.isin(seg, [s for ii, s in labelled_segments if ii == i]).astype(np.uint8))
    return paths, arrays["target"]


D2ADA_CFG = {"seed": 0, "d2ada": {"alpha": 1.0, "beta": 1.0, "category_balance": True}}


def test_first_round_follows_eq7_not_the_official_off_by_one():
    """Round 1 gives alpha B to density (eq. 7); the official selection_iter 0 would give 2 alpha B."""
    assert density_budget(1, 1000, 1.0, 1.0) == 1000 and "off-by-one" in density_budget.__doc__


def test_target_gmms_are_fitted_on_every_target_region(tmp_path):
    """D2ADA supplementary Algorithm 1: the target densities are fitted on all target data, labelled
    and unlabelled; the labelled regions are still never selected again."""
    import h5py

    from adaseg.select.d2ada import run_d2ada

    paths, t = write_d2ada_inputs(tmp_path)
    sel = run_d2ada(D2ADA_CFG, strategy="d2ada", target_regions=str(paths["target"]),
                    superpixels=str(paths["superpixels"]), round_k=2, budget_percent=25, out=tmp_path / "sel.json",
                    masks_out=tmp_path / "m2.h5", gmm_out=tmp_path / "gmm.npz", source_regions=str(paths["source"]),
                    previous_masks=str(paths["masks"]))
    gmm = np.load(tmp_path / "gmm.npz")
    for c in (0, 1):
        rows = (t["cls"] == c) & (t["valid"] > 0)
        want = fit_class_gmm(t["feature"][rows], 0)
        for p in ("weights", "means", "covariances"):
            np.testing.assert_allclose(gmm[f"target_{c}_{p}"], getattr(want, p + "_"), rtol=1e-6, atol=1e-9)
    with h5py.File(paths["masks"]) as a, h5py.File(tmp_path / "m2.h5") as b:
        m1, m2 = a["masks"][:].astype(bool), b["masks"][:].astype(bool)
    assert (m1 & m2).sum() == m1.sum() and (m2 & ~m1).sum() == sel["pixels_labelled"] > 0
