"""Diversity-based baselines that pick a set rather than score images one by one: core-set
(k-center greedy, Sener & Savarese), BADGE (k-means++ seeding on gradient embeddings, Ash et al.)
and CLUE (uncertainty-weighted k-means, Prabhu et al.). Each returns the images in pick order.

As defined, each makes a number of picks that grows with the pool (5% of it) and every pick scans
the pool, so the cost is O(N * n), quadratic when the budget is a fraction of the pool.
`blockwise_order` is the documented linear variant (config `diversity.block_size`): the pool is cut
into seeded random blocks of at most `block_size` images, each block gets its share of the picks,
and the per-block pick orders are interleaved by relative rank; its cost is O(N * block_size)."""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from .anchors import mean_squared_distance


def _min_distance(pool: np.ndarray, centres: np.ndarray, chunk: int = 4096) -> np.ndarray:
    out = np.full(len(pool), np.inf)
    for s in range(0, len(centres), chunk):
        out = np.minimum(out, mean_squared_distance(pool, centres[s:s + chunk]).min(1))
    return out


def kcenter_greedy(pool: np.ndarray, n: int, labelled: np.ndarray | None = None) -> list[int]:
    """Core-set: repeatedly take the pool point farthest from everything labelled or taken.
    Without labelled points the first pick is the point farthest from the pool mean."""
    pool = pool.astype(np.float64)
    if labelled is not None and len(labelled):
        dist = _min_distance(pool, labelled.astype(np.float64))
    else:
        dist = mean_squared_distance(pool, pool.mean(0, keepdims=True))[:, 0]
    order: list[int] = []
    for _ in range(min(n, len(pool))):
        i = int(np.argmax(dist))
        order.append(i)
        dist = np.minimum(dist, mean_squared_distance(pool, pool[i:i + 1])[:, 0])
        dist[order] = -np.inf
    return order


def badge_kmeanspp(embeddings: np.ndarray, n: int, seed: int) -> list[int]:
    """BADGE: k-means++ seeding on gradient embeddings; the first pick has the largest norm, each
    next one is drawn with probability proportional to its squared distance to the picks so far."""
    g = embeddings.astype(np.float64)
    rng = np.random.default_rng([seed, 11])
    order = [int(np.argmax((g ** 2).sum(1)))]
    dist = mean_squared_distance(g, g[order[0]:order[0] + 1])[:, 0]
    while len(order) < min(n, len(g)):
        dist[order] = 0.0
        total = dist.sum()
        if total <= 0:  # every remaining point duplicates a pick: take them in index order
            order.append(int(next(i for i in range(len(g)) if i not in order)))
        else:
            order.append(int(rng.choice(len(g), p=dist / total)))
        dist = np.minimum(dist, mean_squared_distance(g, g[order[-1]:order[-1] + 1])[:, 0])
    return order


def pool_blocks(n: int, block_size: int, seed: int) -> list[np.ndarray]:
    """A seeded random partition of range(n) into ceil(n / block_size) blocks of nearly equal size."""
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    perm = np.random.default_rng([seed, 23]).permutation(n)
    return [np.sort(b) for b in np.array_split(perm, max(1, -(-n // block_size)))]


def blockwise_order(n_pool: int, n: int, block_size: int | None, seed: int, pick) -> list[int]:
    """Run `pick(indices, n_b) -> n_b of those pool indices, in pick order` on each block with n_b = its share
    of n (rounded up), then merge: a pick's key is (rank in its block / n_b, block number), so the
    blocks are drawn from evenly whatever prefix the pixel budget keeps. block_size None or not
    smaller than the pool: one block, i.e. the exact algorithm."""
    if block_size is None or block_size >= n_pool:
        return list(pick(np.arange(n_pool), min(n, n_pool)))
    keyed = []
    for b, idx in enumerate(pool_blocks(n_pool, block_size, seed)):
        n_b = min(len(idx), -(-n * len(idx) // n_pool))
        keyed += [((r + 1) / n_b, b, int(i)) for r, i in enumerate(pick(idx, n_b))]
    return [i for _, _, i in sorted(keyed)]


def clue(embeddings: np.ndarray, uncertainty: np.ndarray, n: int, seed: int) -> list[int]:
    """CLUE: k-means with n clusters, each sample weighted by its uncertainty (entropy); from each
    cluster the sample nearest its centre, clusters taken by decreasing total uncertainty."""
    x = embeddings.astype(np.float64)
    n = min(n, len(x))
    w = np.clip(np.asarray(uncertainty, dtype=np.float64), 1e-12, None)
    km = KMeans(n_clusters=n, n_init=3, random_state=seed).fit(x, sample_weight=w)
    mass = np.bincount(km.labels_, weights=w, minlength=n)
    order: list[int] = []
    d = mean_squared_distance(x, km.cluster_centers_)
    for k in np.argsort(-mass, kind="stable"):
        for i in np.argsort(d[:, k], kind="stable"):
            if int(i) not in order:
                order.append(int(i))
                break
    return order


# registry entries (src/adaseg/registry/strategies.py, order_based): f(inputs: select.run.ScoringInputs)
# -> (pick-order scores n, n-1, ..., 1 and 0 for the rest, extra)
def order_scores(n_pool: int, order: list[int]) -> np.ndarray:
    scores = np.zeros(n_pool)
    scores[order] = np.arange(len(order), 0, -1)
    return scores


def coreset_strategy(inputs):
    pool, labelled = inputs.target("pooled"), inputs.source("pooled")
    block, seed, n = inputs.block_size, inputs.seed, len(inputs.ids)
    if block is not None and len(labelled) > block:  # linear variant: a seeded source subsample
        labelled = labelled[np.sort(np.random.default_rng([seed, 29]).choice(len(labelled), block, replace=False))]
    order = blockwise_order(n, inputs.n_needed, block, seed,
                            lambda idx, k: idx[kcenter_greedy(pool[idx], k, labelled=labelled)])
    return order_scores(n, order), {}


def badge_strategy(inputs):
    g, seed = inputs.target("grad_embedding"), inputs.seed
    order = blockwise_order(len(inputs.ids), inputs.n_needed, inputs.block_size, seed,
                            lambda idx, k: idx[badge_kmeanspp(g[idx], k, seed)])
    return order_scores(len(inputs.ids), order), {}


def clue_strategy(inputs):
    x, u, seed = inputs.target("pooled"), inputs.target("entropy"), inputs.seed
    order = blockwise_order(len(inputs.ids), inputs.n_needed, inputs.block_size, seed,
                            lambda idx, k: idx[clue(x[idx], u[idx], k, seed)])
    return order_scores(len(inputs.ids), order), {}
