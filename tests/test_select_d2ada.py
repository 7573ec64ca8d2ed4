"""adaseg.select.d2ada: density score (eq. 5), class budgets (eq. 6), schedule (eq. 7) and region picks, by hand."""
import numpy as np
import pytest

from adaseg.select.d2ada import (class_budgets, density_budget, density_scores, fit_class_gmm, n_components,
                                 select_regions)


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
    # all density budget to class 0 (the only scored class): 20 px -> regions 0, 1; then entropy: 3
    assert select_regions(pi, ent, cls, px, labelled, 2, budget=30, budget_d=20) == [0, 1, 3]
    # a labelled region is never picked again
    assert 0 not in select_regions(pi, ent, cls, px, np.array([True, False, False, False]), 2, 30, 20)
    # never more than the budget
    assert len(select_regions(pi, ent, cls, px, labelled, 2, budget=25, budget_d=20)) == 2


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
