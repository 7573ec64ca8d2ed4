"""Oracle selections (src/adaseg/select/oracle.py) and the random baselines of every unit, on
hand-computed cases."""
import numpy as np
import pytest

from adaseg.data.labels import IGNORE
from adaseg.select.oracle import (balanced_order, class_shares, image_oracle_balanced_strategy, oracle_picks,
                                  true_loss_map, window_majority_class)
from adaseg.select.random_sampling import random_unit_picks

CFG = {"ripu": {"k_ra": 1, "k_pa": 1, "pa_pixels_per_image": 3, "pa_block_radius": "k", "ra_squares": "ceil"}}


def test_true_loss_is_minus_log_p_of_the_label_and_zero_on_ignored_pixels():
    prob = np.zeros((2, 1, 3))
    prob[0] = [[0.5, 0.9, 0.2]]
    prob[1] = 1 - prob[0]
    label = np.array([[0, 1, IGNORE]])
    np.testing.assert_allclose(true_loss_map(prob, label), [[-np.log(0.5), -np.log(0.1), 0.0]])


def test_window_majority_class_counts_labelled_pixels_only():
    label = np.array([[0, 0, 1],
                      [1, 1, 1],
                      [IGNORE, IGNORE, IGNORE]])
    maj = window_majority_class(label, 2, 1)
    assert maj[0, 0] == 0 or maj[0, 0] == 1   # window {0,0,1,1}: a tie, the lower id wins
    assert maj[0, 0] == 0
    assert maj[1, 2] == 1                      # window {0,1,1,1}: 1
    assert window_majority_class(np.full((2, 2), IGNORE), 2, 0)[0, 0] == IGNORE


def test_balanced_order_fills_each_class_quota_hardest_first_then_the_rest():
    # units: loss, class, cost 1; shares 0.5 / 0.5 of a budget of 2 -> one unit per class first
    loss = np.array([0.9, 0.8, 0.7, 0.1])
    cls = np.array([0, 0, 0, 1])
    assert balanced_order(loss, cls, np.ones(4), np.array([0.5, 0.5]), 2) == [0, 3, 1, 2]
    # without the quota the hardest units would be three of class 0
    assert list(np.argsort(-loss)[:2]) == [0, 1]
    # a unit without a true class only comes after the quotas
    assert balanced_order(np.array([1.0, 0.5]), np.array([IGNORE, 0]), np.ones(2), np.array([1.0]), 1) == [1, 0]


def test_class_shares():
    np.testing.assert_allclose(class_shares(np.array([3, 1, 0])), [0.75, 0.25, 0.0])
    np.testing.assert_allclose(class_shares(np.zeros(4)), [0.25] * 4)


def test_oracle_squares_take_the_best_squares_the_way_ripu_takes_its_units():
    """Window-mean true loss, RIPU's blocking (centres within 2k) and square count (ceil)."""
    prob = np.full((2, 5, 7), 0.9)
    prob[1] = 0.1
    label = np.zeros((5, 7), np.int64)
    label[2, 2] = label[2, 3] = label[2, 5] = 1            # three wrong pixels (loss -log 0.1 each)
    label[1, 5] = 1
    new, picks, score = oracle_picks(prob, None, 18, np.zeros((5, 7), bool), cfg=CFG, options={"k": "k_ra"},
                                     truth=(label, np.array([0.5, 0.5])))
    # window sums: (2,4) holds (2,3), (2,5), (1,5): the best centre; every other centre within 2 of it
    # is blocked; ceil(18 / 9) = 2 squares
    assert picks[0] == (2, 4) and len(picks) == 2
    assert all(max(abs(i - 2), abs(j - 4)) > 2 for i, j in picks[1:])
    np.testing.assert_allclose(score[2, 4], (3 * -np.log(0.1) + 6 * -np.log(0.9)) / 9)


def test_oracle_picks_the_pixels_the_model_gets_most_wrong():
    prob = np.full((2, 2, 3), 0.5)
    prob[0] = [[0.9, 0.6, 0.5], [0.2, 0.99, 0.7]]
    prob[1] = 1 - prob[0]
    label = np.zeros((2, 3), np.int64)
    label[1, 0] = 1                                   # p(1) = 0.8 there: small loss
    cfg = dict(CFG)
    new, picks, score = oracle_picks(prob, None, 2, np.zeros((2, 3), bool), cfg=cfg, options={},
                                     truth=(label, np.array([0.5, 0.5])))
    # losses: -log .9 = .105, -log .6 = .511, -log .5 = .693 / -log .8 = .223, -log .99 = .010, -log .7 = .357
    assert picks == [(0, 2), (0, 1)]
    np.testing.assert_allclose(score, true_loss_map(prob, label))
    with pytest.raises(ValueError, match="ground truth"):
        oracle_picks(prob, None, 2, np.zeros((2, 3), bool), cfg=cfg, options={})


def test_class_balanced_oracle_gives_the_rare_class_its_share():
    # class 1 is easy (loss 0.1) but holds half the pool: the balanced oracle gives it half the picks
    prob = np.zeros((2, 1, 4))
    prob[0] = [[0.1, 0.2, 0.3, 0.1]]
    prob[1] = 1 - prob[0]
    label = np.array([[0, 0, 1, 1]])
    truth = (label, np.array([0.5, 0.5]))
    plain = oracle_picks(prob, None, 2, np.zeros((1, 4), bool), cfg=CFG, options={}, truth=truth)[1]
    balanced = oracle_picks(prob, None, 2, np.zeros((1, 4), bool), cfg=CFG, options={"balanced": True}, truth=truth)[1]
    # losses: -log .1 (class 0), -log .2 (0), -log .7 (1), -log .9 (1)
    assert plain == [(0, 0), (0, 1)]
    assert balanced == [(0, 0), (0, 2)]


def test_image_oracle_balanced_orders_images_by_class_quota():
    class Inputs:
        n_needed = 2

        def target(self, name):
            return {"true_loss": np.array([3.0, 2.0, 1.0]),
                    "true_class_loss": np.array([[30.0, 1.0], [20.0, 0.0], [1.0, 5.0]]),
                    "true_class_pixels": np.array([[10, 10], [10, 10], [0, 0]])}[name]

    scores, _ = image_oracle_balanced_strategy(Inputs())
    # classes of the images: 0, 0, 1; shares 0.5 / 0.5 of 2 images: image 0, then image 2 (class 1), then 1
    assert list(np.argsort(-scores)) == [0, 2, 1]


def test_random_units_are_seeded_and_respect_the_unit():
    prob = np.full((2, 9, 12), 0.5)
    free = np.zeros((9, 12), bool)
    a = random_unit_picks(prob, None, 27, free, cfg=CFG, options={"mode": "RA", "k": "k_ra"},
                          rng=np.random.default_rng(0))
    b = random_unit_picks(prob, None, 27, free, cfg=CFG, options={"mode": "RA", "k": "k_ra"},
                          rng=np.random.default_rng(0))
    assert a[1] == b[1] and (a[0] == b[0]).all()
    assert 1 <= len(a[1]) and a[0].sum() <= 27 + 9 * len(a[1])        # whole squares
    for i, j in a[1]:                                                   # centres at least 2k + 1 apart
        assert all(max(abs(i - p), abs(j - q)) > 2 for p, q in a[1] if (p, q) != (i, j))
    labelled = np.zeros((9, 12), bool)
    labelled[:, :6] = True
    new, picks, _ = random_unit_picks(prob, None, 10, labelled, cfg=CFG, options={}, rng=np.random.default_rng(1))
    assert new.sum() == 10 and not (new & labelled).any() and len(picks) == 10   # pixels: only free ones
