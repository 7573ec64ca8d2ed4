"""adaseg.select.ripu: region impurity, prediction uncertainty, acquisition and greedy picks (RIPU eqs. 2, 4-6)."""
import numpy as np
import pytest

from adaseg.select.ripu import (blocked_by_earlier_rounds, box_sum, greedy_picks, prediction_uncertainty,
                                ra_square_count, region_impurity, ripu_acquisition, ripu_unit_options)


def test_box_sum_clips_at_border():
    assert box_sum(np.ones((3, 3)), 1).tolist() == [[4, 6, 4], [6, 9, 6], [4, 6, 4]]
    # the cost does not depend on k: any k gives the window sums of the integral image
    x = np.arange(20.0).reshape(4, 5)
    assert box_sum(x, 10)[0, 0] == x.sum()
    assert box_sum(x, 0).tolist() == x.tolist()


def test_region_impurity_eq4_by_hand():
    pred = np.array([[0, 0, 1], [0, 0, 1], [0, 0, 1]])
    p = region_impurity(pred, num_classes=2, k=1)
    # centre: 6 of class 0, 3 of class 1 -> -(2/3 ln 2/3 + 1/3 ln 1/3) / ln 2
    assert p[1, 1] == pytest.approx(-(2 / 3 * np.log(2 / 3) + 1 / 3 * np.log(1 / 3)) / np.log(2))
    assert p[0, 0] == 0.0            # window rows 0-1, cols 0-1: all class 0
    assert p[0, 2] == pytest.approx(1.0)  # window cols 1-2: two of each class


def test_prediction_uncertainty_eq5_by_hand():
    ent = np.zeros((3, 3))
    ent[0, 0] = 1.0
    u = prediction_uncertainty(ent, 1)
    assert u[0, 0] == pytest.approx(1 / 4) and u[1, 1] == pytest.approx(1 / 9) and u[2, 2] == 0


def test_acquisition_eq6_is_product():
    prob = np.zeros((2, 3, 3))
    prob[0] = 1.0
    prob[:, :, 2] = 0.5  # last column uncertain: p = (0.5, 0.5), entropy 1, argmax 0
    prob[1, 0, 2], prob[0, 0, 2] = 0.6, 0.4  # top-right pixel predicted class 1
    a = ripu_acquisition(prob, 1, "RA")
    ent = np.array([[0, 0, -(0.4 * np.log(0.4) + 0.6 * np.log(0.6)) / np.log(2)], [0, 0, 1], [0, 0, 1]])
    pred = np.array([[0, 0, 1], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(a, region_impurity(pred, 2, 1) * prediction_uncertainty(ent, 1))
    np.testing.assert_allclose(ripu_acquisition(prob, 1, "PA"), region_impurity(pred, 2, 1) * ent)


def test_greedy_ra_picks_do_not_overlap_and_respect_budget():
    score = np.zeros((5, 9))
    score[2, 2], score[2, 3], score[2, 6] = 3.0, 2.0, 1.0
    mask, picks = greedy_picks(score, k=1, mode="RA", budget=18)
    # (2,3) is within 2k of (2,2): blocked; (2,6) is 4 columns away: taken; two 3x3 squares
    assert picks == [(2, 2), (2, 6)] and mask.sum() == 18
    assert mask[1:4, 1:4].all() and mask[1:4, 5:8].all()
    mask, picks = greedy_picks(score, k=1, mode="RA", budget=17, ra_squares="within_budget")
    assert picks == [(2, 2)] and mask.sum() == 9  # the second square would overshoot
    # ceil (official, BIT-DA/RIPU core/active/build.py:129): ceil(17 / 9) = 2 squares, 18 px > 17
    mask, picks = greedy_picks(score, k=1, mode="RA", budget=17)
    assert picks == [(2, 2), (2, 6)] and mask.sum() == 18


def test_ra_square_count_ceil_by_hand():
    """ceil(pixel budget / (2k+1)^2) squares per image and round, may overshoot the pixel budget."""
    assert [ra_square_count(b, 1) for b in (1, 9, 10, 18, 19)] == [1, 1, 2, 2, 3]
    assert ra_square_count(26, 2) == 2 and ra_square_count(25, 2) == 1      # (2k+1)^2 = 25
    # 5 x 13 map, k = 1, budget 10 px: ceil -> 2 squares (18 px); within_budget -> 1 square (9 px)
    score = np.zeros((5, 13))
    score[2, 2], score[2, 6], score[2, 10] = 3.0, 2.0, 1.0
    mask, picks = greedy_picks(score, 1, "RA", 10, ra_squares="ceil")
    assert picks == [(2, 2), (2, 6)] and mask.sum() == 18
    mask, picks = greedy_picks(score, 1, "RA", 10, ra_squares="within_budget")
    assert picks == [(2, 2)] and mask.sum() == 9
    # a border square counts as one square (the official counts squares, not pixels): 4 + 9 px
    score = np.zeros((5, 13))
    score[0, 0], score[2, 6] = 3.0, 2.0
    mask, picks = greedy_picks(score, 1, "RA", 10)
    assert picks == [(0, 0), (2, 6)] and mask.sum() == 13


def test_pa_block_radius_k_vs_2k_by_hand():
    """PA on one row, k = 1, 3 pixels. Radius k (official, BIT-DA/RIPU core/active/build.py:19,
    64-70): a pick blocks its two neighbours, so 9, 7, 5 at columns 1, 3, 5 are taken. Radius 2k
    (the paper's text): column 1 blocks columns 0-3, column 4 (6) blocks 2-6, then column 7 (0)."""
    score = np.array([[0.0, 9, 8, 7, 6, 5, 0, 0]])
    mask, picks = greedy_picks(score, 1, "PA", 3, pa_block_radius="k")
    assert picks == [(0, 1), (0, 3), (0, 5)] and mask.sum() == 3
    mask, picks = greedy_picks(score, 1, "PA", 3, pa_block_radius="2k")
    assert picks == [(0, 1), (0, 4), (0, 7)] and mask.sum() == 3
    assert greedy_picks(score, 1, "PA", 3)[1] == [(0, 1), (0, 3), (0, 5)]   # the default is k
    # across rounds: column 1 labelled earlier. k blocks columns 0-2 -> 3, 5, 7; 2k blocks 0-3 -> 4, 7
    # and nothing else is free (2 of the 3 pixels)
    labelled = np.zeros((1, 8), bool)
    labelled[0, 1] = True
    assert blocked_by_earlier_rounds(labelled, 1, "PA", "k")[0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert blocked_by_earlier_rounds(labelled, 1, "PA", "2k")[0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert greedy_picks(score, 1, "PA", 3, labelled, pa_block_radius="k")[1] == [(0, 3), (0, 5), (0, 7)]
    assert greedy_picks(score, 1, "PA", 3, labelled, pa_block_radius="2k")[1] == [(0, 4), (0, 7)]
    # RA keeps its (4k+1)^2 blocking whatever pa_block_radius says
    assert blocked_by_earlier_rounds(labelled, 1, "RA", "k")[0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]


def test_unit_options_from_config():
    assert ripu_unit_options({"ripu": {"k_ra": 1}}) == {"pa_block_radius": "k", "ra_squares": "ceil"}
    assert ripu_unit_options({"ripu": {"pa_block_radius": "2k", "ra_squares": "within_budget"}}) == \
        {"pa_block_radius": "2k", "ra_squares": "within_budget"}
    with pytest.raises(ValueError, match="pa_block_radius"):
        greedy_picks(np.zeros((3, 3)), 1, "PA", 1, pa_block_radius="3k")
    with pytest.raises(ValueError, match="ra_squares"):
        greedy_picks(np.zeros((3, 3)), 1, "RA", 9, ra_squares="floor")


@pytest.mark.parametrize("radius,r", [("k", 1), ("2k", 2)])
def test_greedy_never_takes_labelled_pixels(radius, r):
    # 13 columns: the earlier pick at (2, 2) blocks columns 0-4 (2k; 1-3 for k) and (2, 6) columns 4-8
    score = np.zeros((5, 13))
    score[2, 2], score[2, 6] = 3.0, 1.0
    labelled = np.zeros((5, 13), bool)
    labelled[2, 2] = True
    mask, picks = greedy_picks(score, k=1, mode="PA", budget=2, labelled=labelled, pa_block_radius=radius)
    assert (2, 2) not in picks and not (mask & labelled).any() and mask.sum() == 2
    # PA: centres more than the blocking radius apart
    (a, b), (c, d) = picks
    assert max(abs(a - c), abs(b - d)) > r


def _chebyshev(a, b):
    return max(abs(a[0] - b[0]), abs(a[1] - b[1]))


@pytest.mark.parametrize("mode", ["RA", "PA"])
def test_later_rounds_keep_the_earlier_rounds_blocked(mode):
    _later_rounds_blocked(mode, "2k")


def test_later_pa_rounds_block_radius_k():
    """PA with the official radius k: (3, 4) is within k of round 1's (3, 3), (3, 5) is not."""
    score1 = np.zeros((7, 12))
    score1[3, 3] = 5.0
    m1, p1 = greedy_picks(score1, 1, "PA", budget=1)
    score2 = np.zeros((7, 12))
    score2[3, 4], score2[3, 5] = 5.0, 4.0
    m2, p2 = greedy_picks(score2, 1, "PA", budget=1, labelled=m1)
    assert p1 == [(3, 3)] and p2 == [(3, 5)]


def _later_rounds_blocked(mode, radius):
    """RIPU: selected regions and the neighbourhoods of selected pixels never overlap, across rounds too
    (the official code keeps the blocked area of every earlier pick): a centre within 2k (RA; PA with
    ripu.pa_block_radius 2k) of a centre of
    an earlier round is never picked, although none of its own pixels is labelled."""
    k = 1
    score1 = np.zeros((7, 12))
    score1[3, 3] = 5.0
    m1, p1 = greedy_picks(score1, k, mode, budget=9 if mode == "RA" else 1, pa_block_radius=radius)
    assert p1 == [(3, 3)]
    score2 = np.zeros((7, 12))
    score2[3, 5], score2[3, 6] = 5.0, 4.0   # (3, 5): 2k from (3, 3), its square would touch round 1's
    m2, p2 = greedy_picks(score2, k, mode, budget=9 if mode == "RA" else 1, labelled=m1, pa_block_radius=radius)
    assert p2 == [(3, 6)] and not (m2 & m1).any()


@pytest.mark.parametrize("mode,k,radius", [("RA", 1, "k"), ("RA", 2, "k"), ("PA", 1, "2k"), ("PA", 2, "2k"),
                                           ("PA", 1, "k"), ("PA", 2, "k")])
def test_two_rounds_never_overlap(mode, k, radius):
    """Random maps, two rounds: no window of round 2 touches a pixel of round 1 and no two centres of
    different rounds are within the blocking radius (2k for RA, k or 2k for PA; borders included);
    within a round the rule is the same."""
    rng = np.random.default_rng(k)
    r = 2 * k if mode == "RA" or radius == "2k" else k
    for _ in range(10):
        h, w = 13, 21
        unit = (2 * k + 1) ** 2 if mode == "RA" else 1
        m1, p1 = greedy_picks(rng.random((h, w)), k, mode, budget=3 * unit, pa_block_radius=radius)
        m2, p2 = greedy_picks(rng.random((h, w)), k, mode, budget=3 * unit, labelled=m1, pa_block_radius=radius)
        assert p1 and p2 and not (m1 & m2).any()
        for a in p2:
            assert all(_chebyshev(a, b) > r for b in p1)
            if mode == "RA":
                i, j = a
                assert not m1[max(i - k, 0):i + k + 1, max(j - k, 0):j + k + 1].any()
        for p in (p1, p2):
            assert all(_chebyshev(a, b) > r for n, a in enumerate(p) for b in p[:n])
