"""adaseg.select.anchors (the source anchors and distances behind adaseg.select.mada), by hand."""
import numpy as np
import pytest

from adaseg.select.anchors import (distance_to_anchors, dual_domain_distance, fit_anchors, mean_squared_distance,
                                   prototype_distance)


def test_mada_distance_eq5_by_hand():
    x = np.array([[0, 0, 0, 0], [2, 2, 2, 2], [3, 1, 0, 0]], float)
    a = np.array([[0, 0, 0, 0], [1, 1, 1, 1]], float)
    # d(x, a) = mean over the 4 dims of (x - a)^2
    # x1: 0 and 1; x2: 16/4 = 4 and 4/4 = 1; x3: (9+1)/4 = 2.5 and (4+0+1+1)/4 = 1.5
    np.testing.assert_allclose(mean_squared_distance(x, a), [[0, 1], [4, 1], [2.5, 1.5]])
    # eq. 5: D(x) = min over anchors
    np.testing.assert_allclose(distance_to_anchors(x, a), [0, 1, 1.5])


def test_anchors_are_kmeans_centres():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.01, (20, 3)) + [0, 0, 0]
    b = rng.normal(0, 0.01, (20, 3)) + [5, 5, 5]
    anchors = fit_anchors(np.concatenate([a, b]), 2, seed=0)
    anchors = anchors[np.argsort(anchors[:, 0])]
    np.testing.assert_allclose(anchors, [a.mean(0), b.mean(0)], atol=1e-5)  # eq. 3


def test_dual_domain_distance_eq5_by_hand():
    x = np.array([[0.0, 0.0]])
    # source anchor (1, 1): (1 + 1) / 2 = 1; target anchors (2, 0): 4/2 = 2 and (0, 4): 16/2 = 8 -> min 2
    assert dual_domain_distance(x, np.array([[1.0, 1.0]]), np.array([[2.0, 0.0], [0.0, 4.0]])) == pytest.approx([3.0])


def test_prototype_distance_eq19_by_hand():
    # eta = mean of (0, 0) and (2, 2) = (1, 1); target (3, 1): ((3-1)^2 + 0) / 2 = 2
    assert prototype_distance(np.array([[3.0, 1.0]]), np.array([[0.0, 0.0], [2.0, 2.0]])) == pytest.approx([2.0])
