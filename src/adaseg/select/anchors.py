"""Multiple anchors (MADA Sec. 3.2): k-means centres of per-image class-mean feature vectors.

The vectors stay float32 (paper size: 24,966 GTA5 images x 19 classes x 256 = 486 MB): k-means
runs in float32 and the distances take a block of rows at a time, so no float64 copy of all the
rows is ever made."""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

BLOCK_BYTES = 64 << 20  # float64 working set of one block of rows in mean_squared_distance


# k-means settings of `mada.kmeans`. official: what munanning/MADA utils/clustering.py:150-188 runs
# (faiss.Clustering: centres start at k randomly picked points, niter 20, one run) and munanning/MADAv2
# step1_cluster_anchors_source.py:24-27 (faiss.Kmeans(d, k, niter=20), nredo 1). faiss has no
# tolerance: tol 0 runs all 20 iterations unless the assignment stops changing. sklearn: k-means++,
# the best of 10 runs (scikit-learn's defaults), as adaseg ran it before.
KMEANS_SETTINGS = {
    "official": {"init": "random", "n_init": 1, "max_iter": 20, "tol": 0.0},
    "sklearn": {"init": "k-means++", "n_init": 10, "max_iter": 300, "tol": 1e-4},
}


def fit_anchors(vectors: np.ndarray, k: int, seed: int, copy: bool = True, kmeans: str = "official") -> np.ndarray:
    """K anchors = k-means centres of the (N, F) vectors (MADA eqs. 2-3), fitted in float32.
    kmeans: `mada.kmeans`, a key of KMEANS_SETTINGS ('official': random-point initialisation, 20
    iterations, one run, as the official code's faiss k-means; 'sklearn': k-means++, 10 runs). The
    seed is scikit-learn's random_state either way (the official code draws faiss's seed from
    np.random). copy=False lets k-means centre float32 `vectors` in place (and add the mean back,
    which may change them in the last bit) instead of copying them: for callers that drop them
    afterwards."""
    if kmeans not in KMEANS_SETTINGS:
        raise ValueError(f"mada.kmeans must be one of {sorted(KMEANS_SETTINGS)}, not {kmeans!r}")
    if len(vectors) < k:
        raise ValueError(f"cannot fit {k} anchors to {len(vectors)} feature vectors")
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    # a float64 (or strided) input has already been copied into x: k-means may work on x in place
    in_place = not copy or not np.may_share_memory(x, vectors)
    km = KMeans(n_clusters=k, random_state=seed, copy_x=not in_place, **KMEANS_SETTINGS[kmeans]).fit(x)
    return km.cluster_centers_.astype(np.float32)


def mean_squared_distance(vectors: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(N, K) mean over the F dimensions of (x - a)^2: the squared L2 distance of MADA eq. 5,
    divided by F as in the official code. Computed in float64 (|x|^2 - 2 x.a + |a|^2 cancels too
    much in float32 for nearby vectors) one block of rows at a time, so the float64 copy is one
    block (BLOCK_BYTES), not all N rows."""
    a = np.asarray(anchors, dtype=np.float64)
    n, f = vectors.shape
    a_sq = (a ** 2).sum(1)[None, :]
    out = np.empty((n, len(a)), dtype=np.float64)
    step = max(1, BLOCK_BYTES // (8 * max(f, 1)))
    for s in range(0, n, step):
        v = np.asarray(vectors[s:s + step], dtype=np.float64)
        sq = (v ** 2).sum(1)[:, None] - 2 * v @ a.T + a_sq
        out[s:s + step] = np.maximum(sq, 0.0) / f
    return out


def distance_to_anchors(vectors: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """D(x) = min_k d(F(x), A_k) (MADA eq. 5)."""
    return mean_squared_distance(vectors, anchors).min(1)


def dual_domain_distance(target_vectors: np.ndarray, source_anchors: np.ndarray,
                         target_anchors: np.ndarray) -> np.ndarray:
    """MADAv2 eq. 5: min_k d(F, A_k^s) + min_k d(F, A_k^w), with the warm-up target anchors A^w."""
    return distance_to_anchors(target_vectors, source_anchors) + distance_to_anchors(target_vectors, target_anchors)


def prototype_distance(target_vectors: np.ndarray, source_vectors: np.ndarray) -> np.ndarray:
    """MADAv2 eq. 19: distance to the single source centroid eta (the unimodal prototype),
    accumulated in float64 without a float64 copy of the source rows."""
    eta = np.asarray(source_vectors).mean(0, keepdims=True, dtype=np.float64)
    return mean_squared_distance(target_vectors, eta)[:, 0]


# registry entries (src/adaseg/registry/strategies.py): f(inputs: select.run.ScoringInputs) -> (scores, extra)
def kmeans_setting(inputs) -> str:
    """`mada.kmeans` of the scoring inputs ('official' where they do not carry it)."""
    return getattr(inputs, "kmeans", None) or "official"


def madav2_strategy(inputs):
    tv = inputs.target("features")
    km = kmeans_setting(inputs)
    source_anchors = fit_anchors(inputs.source("features"), inputs.source_anchors, inputs.seed, copy=False, kmeans=km)
    target_anchors = fit_anchors(tv, inputs.target_anchors, inputs.seed, kmeans=km)
    return dual_domain_distance(tv, source_anchors, target_anchors), {
        "source_anchors": source_anchors, "target_anchors": target_anchors}


def prototype_strategy(inputs):
    return prototype_distance(inputs.target("features"), inputs.source("features")), {}
