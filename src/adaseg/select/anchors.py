"""Multiple anchors (MADA Sec. 3.2): k-means centres of per-image class-mean feature vectors."""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans


def fit_anchors(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """K anchors = k-means centres of the (N, F) vectors (MADA eqs. 2-3)."""
    if len(vectors) < k:
        raise ValueError(f"cannot fit {k} anchors to {len(vectors)} feature vectors")
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(vectors.astype(np.float64))
    return km.cluster_centers_.astype(np.float32)


def mean_squared_distance(vectors: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(N, K) mean over the F dimensions of (x - a)^2: the squared L2 distance of MADA eq. 5,
    divided by F as in the official code."""
    v = vectors.astype(np.float64)
    a = anchors.astype(np.float64)
    sq = (v ** 2).sum(1)[:, None] - 2 * v @ a.T + (a ** 2).sum(1)[None, :]
    return np.maximum(sq, 0.0) / v.shape[1]


def distance_to_anchors(vectors: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """D(x) = min_k d(F(x), A_k) (MADA eq. 5)."""
    return mean_squared_distance(vectors, anchors).min(1)


def dual_domain_distance(target_vectors: np.ndarray, source_anchors: np.ndarray,
                         target_anchors: np.ndarray) -> np.ndarray:
    """MADAv2 eq. 5: min_k d(F, A_k^s) + min_k d(F, A_k^w), with the warm-up target anchors A^w."""
    return distance_to_anchors(target_vectors, source_anchors) + distance_to_anchors(target_vectors, target_anchors)


def prototype_distance(target_vectors: np.ndarray, source_vectors: np.ndarray) -> np.ndarray:
    """MADAv2 eq. 19: distance to the single source centroid eta (the unimodal prototype)."""
    eta = source_vectors.astype(np.float64).mean(0, keepdims=True)
    return mean_squared_distance(target_vectors, eta)[:, 0]
