"""adaseg.select.diversity: core-set k-center, BADGE k-means++, CLUE and the blockwise variant, by hand."""
import numpy as np

from adaseg.select.diversity import badge_kmeanspp, blockwise_order, clue, kcenter_greedy, pool_blocks


def test_coreset_kcenter_by_hand():
    pool = np.array([[0.0], [1.0], [5.0], [10.0]])
    # labelled point 0: distances 0, 1, 25, 100 -> take 10; then min(25, 25) vs 1 -> take 5; then 1
    assert kcenter_greedy(pool, 3, labelled=np.array([[0.0]])) == [3, 2, 1]


def test_badge_kmeanspp_first_pick_and_d2_sampling():
    g = np.array([[3.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    order = badge_kmeanspp(g, 3, seed=0)
    # first: the largest gradient norm; second: one of the three duplicates (D^2 = 5 each);
    # third: the remaining duplicates have D^2 = 0, so the lowest remaining index
    assert order[0] == 0 and order[1] in (1, 2, 3)
    assert order[2] == min({1, 2, 3} - {order[1]})
    assert badge_kmeanspp(g, 3, seed=0) == order  # seeded


def test_clue_weighted_centres_by_hand():
    x = np.array([[0, 0], [0, 1], [0, 2], [10, 10], [10, 11], [10, 14]], float)
    w = np.array([1, 1, 1, 1, 1, 10], float)
    # cluster A: weighted centre (0, 1) -> index 1; cluster B: (10, (10 + 11 + 140) / 12 = 13.4) -> index 5
    # B has the larger total uncertainty (12 vs 3), so it comes first
    assert clue(x, w, 2, seed=0) == [5, 1]


def test_blockwise_variant_by_hand():
    # no block size (or one not smaller than the pool): exactly the plain algorithm
    pool = np.array([[0.0], [1.0], [5.0], [10.0]])
    exact = kcenter_greedy(pool, 3)
    assert blockwise_order(4, 3, None, 0, lambda idx, n: idx[kcenter_greedy(pool[idx], n)]) == exact
    assert blockwise_order(4, 3, 4, 0, lambda idx, n: idx[kcenter_greedy(pool[idx], n)]) == exact
    # 10 images in blocks of at most 4: ceil(10 / 4) = 3 blocks of 4, 3, 3, a seeded partition
    blocks = pool_blocks(10, 4, seed=0)
    assert sorted(len(b) for b in blocks) == [3, 3, 4]
    assert sorted(np.concatenate(blocks).tolist()) == list(range(10))
    assert all((a == b).all() for a, b in zip(blocks, pool_blocks(10, 4, seed=0)))
    # 5 picks: block shares ceil(5 * 4 / 10) = 2, ceil(5 * 3 / 10) = 2, 2; a stand-in picker that takes
    # each block's indices in order -> keys 1/2 and 2/2 per block: first picks of all blocks, then seconds
    order = blockwise_order(10, 5, 4, 0, lambda idx, n: idx[:n])
    assert order == [int(b[0]) for b in blocks] + [int(b[1]) for b in blocks]
