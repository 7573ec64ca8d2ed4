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


@pytest.mark.parametrize("setting, expected", [
    ("official", {"init": "random", "n_init": 1, "max_iter": 20, "tol": 0.0}),   # munanning/MADA utils/clustering.py:150-188
    ("sklearn", {"init": "k-means++", "n_init": 10, "max_iter": 300, "tol": 1e-4}),
])
def test_kmeans_settings_reach_kmeans(monkeypatch, setting, expected):
    """mada.kmeans: official = faiss's random-point init, 20 iterations, one run; sklearn = k-means++,
    10 runs. The seed is passed either way."""
    import adaseg.select.anchors as anchors_mod

    seen = {}

    class Recorder:
        def __init__(self, **kw):
            seen.update(kw)

        def fit(self, x):
            self.cluster_centers_ = np.asarray(x[:kw_k()], dtype=np.float64)
            return self

    def kw_k():
        return seen["n_clusters"]

    monkeypatch.setattr(anchors_mod, "KMeans", Recorder)
    out = fit_anchors(np.arange(12, dtype=np.float32).reshape(6, 2), 3, seed=7, kmeans=setting)
    assert out.shape == (3, 2) and out.dtype == np.float32
    assert seen["random_state"] == 7 and seen["n_clusters"] == 3
    assert {k: seen[k] for k in expected} == expected


def test_official_kmeans_one_random_run_can_stop_in_a_worse_optimum():
    """1-D points 0, 1, 2, 100, 101 and k = 3. Best (inertia 1): {0 | 1, 2 | 100, 101} or
    {0, 1 | 2 | 100, 101}. One run from k random points that starts at 100 and 101 separately never
    splits {0, 1, 2}: centres 1, 100, 101 (inertia 2). k-means++ with 10 runs finds an optimum;
    official runs (init='random', n_init=1) land in the worse one for some seeds."""
    x = np.array([[0.0], [1.0], [2.0], [100.0], [101.0]], dtype=np.float32)

    def inertia(c):
        return float(((x - c[None, :, 0]) ** 2).min(1).sum())

    assert inertia(fit_anchors(x, 3, seed=0, kmeans="sklearn")) == pytest.approx(1.0)
    runs = [np.sort(fit_anchors(x, 3, seed=s, kmeans="official")[:, 0]) for s in range(20)]
    worse = [r for r in runs if inertia(r[:, None]) == pytest.approx(2.0)]
    assert worse and all(np.allclose(r, [1.0, 100.0, 101.0]) for r in worse)
    assert any(inertia(r[:, None]) == pytest.approx(1.0) for r in runs)


def test_unknown_kmeans_setting_is_refused():
    with pytest.raises(ValueError, match="mada.kmeans"):
        fit_anchors(np.zeros((4, 2), np.float32), 2, seed=0, kmeans="faiss")
