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
