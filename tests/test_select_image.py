"""Image-level strategies of MADAv2 Table 3 / MADA Table 4 and the diversity baselines, each
against a hand-computed case from its equation."""

import numpy as np
import pytest
import torch

from adaseg.features import gradient_embedding, image_uncertainty
from adaseg.select.adversarial import aada_scores, adversarial_scores
from adaseg.select.anchors import dual_domain_distance, prototype_distance
from adaseg.select.diversity import badge_kmeanspp, blockwise_order, clue, kcenter_greedy, pool_blocks
from adaseg.select.selection_list import images_needed, take_images_in_order
from adaseg.select.uncertainty import confidence_scores, entropy_scores, margin_scores


def test_uncertainty_scores_by_hand():
    # two pixels, two classes: p = (0.5, 0.5) and (1, 0)
    prob = torch.tensor([[[[0.5, 1.0]], [[0.5, 0.0]]]])
    u = image_uncertainty(prob)
    # entropy / log 2: 1 and 0 -> mean 0.5 (MADAv2 eq. 16 / HW)
    assert entropy_scores(u["entropy"].numpy()) == pytest.approx([0.5])
    # max prob 0.5 and 1 -> mean 0.75 -> least-confidence score 0.25
    assert confidence_scores(u["confidence"].numpy()) == pytest.approx([0.25])
    # margins 0 and 1 -> mean 0.5 -> score 0.5
    assert margin_scores(u["margin"].numpy()) == pytest.approx([0.5])


def test_adversarial_eq17_and_aada_eq18_by_hand():
    # f_D = P(source) = 0.25: E_adv = 0.75 / 0.25 = 3; E_AADA = 0.5 * 3
    assert adversarial_scores(np.array([0.25, 0.5])) == pytest.approx([3.0, 1.0])
    assert aada_scores(np.array([0.25]), np.array([0.5])) == pytest.approx([1.5])


def test_dual_domain_distance_eq5_by_hand():
    x = np.array([[0.0, 0.0]])
    # source anchor (1, 1): (1 + 1) / 2 = 1; target anchors (2, 0): 4/2 = 2 and (0, 4): 16/2 = 8 -> min 2
    assert dual_domain_distance(x, np.array([[1.0, 1.0]]), np.array([[2.0, 0.0], [0.0, 4.0]])) == pytest.approx([3.0])


def test_prototype_distance_eq19_by_hand():
    # eta = mean of (0, 0) and (2, 2) = (1, 1); target (3, 1): ((3-1)^2 + 0) / 2 = 2
    assert prototype_distance(np.array([[3.0, 1.0]]), np.array([[0.0, 0.0], [2.0, 2.0]])) == pytest.approx([2.0])


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


def test_gradient_embedding_by_hand():
    prob = torch.tensor([[[[0.7]], [[0.3]]]])   # one pixel, p = (0.7, 0.3), predicted class 0
    feat = torch.tensor([[[[2.0]]]])            # D = 1
    # (p - onehot) x f = (-0.3, 0.3) * 2
    torch.testing.assert_close(gradient_embedding(prob, feat), torch.tensor([[[-0.6], [0.6]]]))


def test_order_based_budget():
    px = np.array([100, 50, 100, 100])
    # 25% of 350 = 87.5 -> 88 px: in pick order 1 (50 px), then 2 (150 px) crosses it
    assert take_images_in_order([1, 2, 0], px, 0.25) == [1, 2]
    assert images_needed(px, 0.25) == 2


def test_every_registered_strategy_resolves_to_its_function():
    """Each registry entry names a function that exists; image-level entries read only fields the
    feature dumps write; the CLI offers exactly the registered strategies of each runner."""
    from adaseg.cli import build_parser
    from adaseg.registry import STRATEGIES, strategies_run_by

    dump_fields = {"features", "counts", "pooled", "entropy", "confidence", "margin", "disc_source_prob",
                   "grad_embedding"}
    for s in STRATEGIES.values():
        assert callable(s.scorer()), s.name
        if s.runner == "image":
            assert {f.split(":")[1] for f in s.reads} <= dump_fields, s.name
    sub = next(a for a in build_parser()._actions if a.dest == "cmd").choices
    for cmd, runner in [("select", "image"), ("select-regions", "model"), ("select-superpixels", "superpixel")]:
        choices = next(a for a in sub[cmd]._actions if a.dest == "strategy").choices
        assert list(choices) == strategies_run_by(runner)


def test_random_is_seeded_uniform_sampling():
    from adaseg.select.random_sampling import random_scores
    from adaseg.select.selection_list import take_images_by_score

    a, b = random_scores(1000, seed=3), random_scores(1000, seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, random_scores(1000, seed=4))
    # uniform: each decile of [0, 1) holds about a tenth of the scores
    assert np.all(np.abs(np.histogram(a, bins=10, range=(0, 1))[0] - 100) < 40)
    chosen = take_images_by_score([str(i) for i in range(1000)], a, np.ones(1000, int), 0.05)
    assert len(set(chosen)) == 50 and sorted(a[chosen])[0] >= np.sort(a)[-50]
