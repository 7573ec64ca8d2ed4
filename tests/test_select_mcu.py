"""adaseg.select.mcu: ADA-MCU's uncertainty (eq. 1) and adaptive sampling (Algorithm 1), by hand."""
import numpy as np
import pytest


def test_mcu_uncertainty_eq1_by_hand():
    from adaseg.select.mcu import mcu_uncertainty
    p = np.array([0.5, 0.5]).reshape(2, 1, 1)
    q = np.array([0.25, 0.75]).reshape(2, 1, 1)
    # E = 1 (normalised); KL = 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75) = 0.5 ln(4/3); S = E + 0.5 KL
    assert mcu_uncertainty(p, q, 0.5)[0, 0] == pytest.approx(1 + 0.25 * np.log(4 / 3))
    # the training step's batched torch form (classes on axis 1) gives the same value
    import torch
    t = mcu_uncertainty(torch.tensor(p[None]), torch.tensor(q[None]), 0.5, axis=1)
    assert isinstance(t, torch.Tensor) and float(t[0, 0, 0]) == pytest.approx(1 + 0.25 * np.log(4 / 3))


def test_mcu_adaptive_sampling_algorithm1_by_hand():
    from adaseg.select.mcu import adaptive_sampling
    s = np.array([[0.9, 0.8, 0.1, 0.5, 0.4, 0.05]])
    # budget 4: pi_high decays from 1.9 by 0.9 until two pixels are >= it (0.9, 0.8; pi_high = 0.736);
    # pi_low = median 0.45, so G_m = {0.5}: one more pixel; 0.4, 0.1, 0.05 are G_l, and G_m being one
    # short, the best of the remaining pixels (0.4) fills the budget
    m = adaptive_sampling(s, 4, np.random.default_rng(0), low_quantile=0.5, decay=0.9, g_h_half="top")
    assert m.tolist() == [[True, True, False, True, True, False]]
    labelled = np.zeros_like(m)
    labelled[0, 0] = True
    m2 = adaptive_sampling(s, 2, np.random.default_rng(0), labelled=labelled, g_h_half="top")
    assert not m2[0, 0] and m2[0, 1] and m2.sum() == 2
    m3 = adaptive_sampling(s, 2, np.random.default_rng(0), labelled=labelled)   # footnote 3: 1 of G_h = {0.8, 0.5}
    assert not m3[0, 0] and m3.sum() == 2 and m3[0, [1, 3]].sum() >= 1


def _sampled_within(code: str, timeout: float = 60.0) -> list:
    """Run `code` (which prints a JSON list) in a fresh interpreter; fail, instead of hanging, when it
    does not finish within `timeout` seconds."""
    import json
    import subprocess
    import sys

    from conftest import cli_env
    try:
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                             env=cli_env())
    except subprocess.TimeoutExpired:
        pytest.fail(f"adaptive_sampling did not return within {timeout:.0f} s")
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("positives", [3, 4])
def test_mcu_adaptive_sampling_returns_when_the_floor_is_zero(positives):
    """Fully confident float32 pixels on which both heads agree score exactly 0; with fewer than
    budget // 2 pixels above that floor, pi_high used to decay forever (a subnormal stuck above 0)."""
    code = f"""
import json
import numpy as np
from adaseg.select.mcu import adaptive_sampling, mcu_uncertainty
prob = np.zeros((3, 8, 8), np.float32)
prob[0] = 1.0                                   # fully confident, both heads agree: score 0
soft = np.array([[0.5, 0.3, 0.2], [0.6, 0.3, 0.1], [0.4, 0.4, 0.2], [0.7, 0.2, 0.1]], np.float32)
for n, (i, j) in enumerate([(1, 1), (2, 5), (6, 3), (7, 7)][:{positives}]):
    prob[:, i, j] = soft[n]
score = mcu_uncertainty(prob, prob.copy(), 0.5)
assert score.min() == 0.0 and (score > 0).sum() == {positives}
m = adaptive_sampling(score, 10, np.random.default_rng(0))
print(json.dumps([int(m.sum()), int((m & (score > 0)).sum())]))
"""
    picked, positive = _sampled_within(code)
    # the budget is filled: every positive pixel (the high group) plus pixels of the floor
    assert picked == 10 and positive == positives


def test_mcu_adaptive_sampling_fills_the_budget_when_all_scores_are_equal():
    from adaseg.select.mcu import adaptive_sampling
    m = adaptive_sampling(np.full((8, 8), 0.3), 10, np.random.default_rng(0))
    assert m.sum() == 10    # was budget // 2: G_m = {pi_low <= S < pi_high} is empty


def test_mcu_adaptive_sampling_refills_from_the_remaining_pixels_by_score():
    from adaseg.select.mcu import adaptive_sampling
    s = np.arange(1.0, 11.0).reshape(1, 10)   # 1..10; budget 8: G_h = {10, 9, 8, 7}, median 5.5
    m = adaptive_sampling(s, 8, np.random.default_rng(0), low_quantile=0.5, decay=0.9, g_h_half="top")
    # pi_high decays 11 -> 9.9 -> ... -> 6.50, so G_m = [5.5, 6.50) = {6}: one of its four; the rest
    # comes from the remaining free pixels by score: 5, 4, 3
    assert m.sum() == 8 and m[0, 2:].all() and not m[0, :2].any()


def test_mcu_adaptive_sampling_takes_every_free_pixel_when_fewer_than_the_budget():
    from adaseg.select.mcu import adaptive_sampling
    rng = np.random.default_rng(1)
    s = rng.random((6, 6)) + 0.1
    labelled = np.ones((6, 6), bool)
    labelled[0, :6] = False                    # 6 free pixels, budget 10
    m = adaptive_sampling(s, 10, np.random.default_rng(0), labelled=labelled)
    assert m.sum() == 6 and not (m & labelled).any()
    for adaptive in (True, False):             # a budget within the free pixels is met exactly
        assert adaptive_sampling(s, 20, np.random.default_rng(0), adaptive=adaptive).sum() == 20


def test_mcu_adaptive_sampling_keeps_the_picks_when_the_groups_suffice():
    """The refill changes nothing when G_h and G_m can supply their halves (the picks of the paper)."""
    from adaseg.select.mcu import adaptive_sampling
    rng = np.random.default_rng(3)
    s = rng.random((16, 16))
    m = adaptive_sampling(s, 20, np.random.default_rng(0), g_h_half="top")
    top = np.argsort(-s, axis=None, kind="stable")[:10]
    assert m.sum() == 20 and m.ravel()[top].all()
    assert (s[m] >= np.median(s)).all()        # the other half from G_m, never from G_l
    # footnote 3 (g_h_half: random): G_h = the top 20, a uniform 10 of them; the other 10 from G_m
    m = adaptive_sampling(s, 20, np.random.default_rng(0))
    top20 = np.argsort(-s, axis=None, kind="stable")[:20]
    assert m.sum() == 20 and m.ravel()[top20].sum() >= 10 and (s[m] >= np.median(s)).all()


S10 = np.array([[0.95, 0.85, 0.75, 0.65, 0.55, 0.45, 0.35, 0.25, 0.15, 0.05]])


def test_mcu_random_half_of_g_h_footnote3_by_hand():
    """Budget M_e = 4, M_a = 2: pi_high decays from 1.95 by 0.9 until |G_h| = 2 M_a = 4:
    1.755, ..., 0.6799 (3 pixels), 0.6119 (4: 0.95, 0.85, 0.75, 0.65). A uniform half (2) of G_h is
    labelled; pi_low = the 0 quantile = 0.05, so G_m = the 6 scores in [0.05, 0.6119): 2 of them."""
    from adaseg.select.mcu import adaptive_sampling
    halves = set()
    for seed in range(12):
        m = adaptive_sampling(S10, 4, np.random.default_rng(seed), low_quantile=0.0, decay=0.9)
        assert m.sum() == 4 and m[0, :4].sum() == 2 and m[0, 4:].sum() == 2   # exactly M_a from G_h
        again = adaptive_sampling(S10, 4, np.random.default_rng(seed), low_quantile=0.0, decay=0.9)
        assert np.array_equal(m, again)                                        # same rng, same pixels
        halves.add(tuple(np.flatnonzero(m[0, :4])))
    assert len(halves) > 1                     # not always the top half
    # g_h_half: top: |G_h| = M_a = 2 (pi_high = 0.8394): 0.95 and 0.85, then 2 of the 8 below 0.8394
    m = adaptive_sampling(S10, 4, np.random.default_rng(0), low_quantile=0.0, decay=0.9, g_h_half="top")
    assert m[0, :2].all() and m.sum() == 4 and m[0, 2:].sum() == 2
    with pytest.raises(ValueError, match="g_h_half"):
        adaptive_sampling(S10, 4, np.random.default_rng(0), g_h_half="bottom")


def test_mcu_random_half_without_adaptive_sampling():
    """adaptive=False (Table VI, AL w/o AS): M_a = M_e = 3, |G_h| = 2 M_a = 6 (pi_high 0.6119 ->
    0.5507 (0.55 is below it) -> 0.4956 (5) -> 0.4461: 0.95 .. 0.45), a random 3 of them and nothing
    from G_m (its half is 0)."""
    from adaseg.select.mcu import adaptive_sampling
    for seed in range(5):
        m = adaptive_sampling(S10, 3, np.random.default_rng(seed), low_quantile=0.0, adaptive=False)
        assert m.sum() == 3 and m[0, :6].sum() == 3


A = np.array([[0.9, 0.8], [0.7, 0.6]])
B = np.array([[0.1, 0.2], [0.05, 0.3]])
C = np.array([[0.5, 0.4, 0.95]])


@pytest.mark.parametrize("half", ["top", "random"])
def test_mcu_global_threshold_shares_by_hand(half):
    """Sec. IV.C: one pi_high over the pool. Budgets 2 + 2 + 2 = M_e = 6, M_a = 3, pooled scores
    0.95 (C) 0.9 0.8 0.7 0.6 (A) 0.5 0.4 (C) 0.3 0.2 0.1 0.05 (B); pi_low = their median 0.5.
    top: pi_high 1.95 -> ... -> 0.7555 gives G_h = {0.95, 0.9, 0.8}; G_m = [0.5, 0.7555) = {0.7, 0.6,
    0.5}: all 3. random: |G_h| = 6 at pi_high = 0.4956 (0.95 .. 0.5); a random 3, G_m = [0.5, 0.4956)
    is empty, so the other 3 of G_h come by score. Either way: A 4 of 4, B 0 of 4, C 2 of 3."""
    from adaseg.select.mcu import adaptive_sampling, global_adaptive_sampling
    masks = global_adaptive_sampling([A, B, C], [2, 2, 2], np.random.default_rng(0), 0.5, 0.9, g_h_half=half)
    assert [m.shape for m in masks] == [(2, 2), (2, 2), (1, 3)]
    assert [int(m.sum()) for m in masks] == [4, 0, 2] and sum(int(m.sum()) for m in masks) == 6
    assert masks[0].all() and masks[2].tolist() == [[True, False, True]]
    # per_image quota: 2 each, whatever the other images hold
    per = [adaptive_sampling(s, 2, np.random.default_rng(0), 0.5, 0.9, g_h_half=half) for s in (A, B, C)]
    assert [int(m.sum()) for m in per] == [2, 2, 2]


def test_mcu_global_threshold_skips_labelled_and_meets_the_total():
    from adaseg.select.mcu import global_adaptive_sampling
    lab = [np.array([[True, True], [False, False]]), None, np.array([[False, False, True]])]
    # free: A 0.7, 0.6; B all four; C 0.5, 0.4 (8 pixels); budget 1 + 2 + 2 = 5 over the pool
    masks = global_adaptive_sampling([A, B, C], [1, 2, 2], np.random.default_rng(1), 0.5, 0.9, labelled=lab)
    assert sum(int(m.sum()) for m in masks) == 5
    assert not any((m & l).any() for m, l in zip(masks, lab) if l is not None)
    # a pool with fewer free pixels than the budget gives all of them
    masks = global_adaptive_sampling([A, B, C], [9, 9, 9], np.random.default_rng(1), labelled=lab)
    assert sum(int(m.sum()) for m in masks) == 8
    # one image: the per-image function is the pool of one
    from adaseg.select.mcu import adaptive_sampling
    s = np.random.default_rng(5).random((6, 7))
    assert np.array_equal(adaptive_sampling(s, 9, np.random.default_rng(2)),
                          global_adaptive_sampling([s], [9], np.random.default_rng(2))[0])


def test_mcu_pool_picks_reads_the_config_and_the_per_image_pick_warns():
    from adaseg.select import mcu
    cfg = {"mcu": {"gamma": 0.5, "low_quantile": 0.5, "decay": 0.9, "adaptive_sampling": True,
                   "quota": "global", "g_h_half": "top"}}
    assert mcu.mcu_quota(cfg) == "global"
    masks = mcu.mcu_pool_picks([A, B, C], [2, 2, 2], None, cfg=cfg, rng=np.random.default_rng(0))
    assert [int(m.sum()) for m in masks] == [4, 0, 2]
    p = np.full((2, 2, 2), 0.5)
    s = mcu.mcu_score(p, p, cfg=cfg)
    assert s.dtype == np.float32 and np.allclose(s, 1.0)      # entropy 1 (eq. 2), KL 0
    mcu._warned = False
    with pytest.warns(RuntimeWarning, match="mcu_pool_picks"):
        new, picks, _ = mcu.mcu_picks(p, p, 2, np.zeros((2, 2), bool), cfg=cfg, options={},
                                      rng=np.random.default_rng(0))
    assert new.sum() == 2 and len(picks) == 2
    with pytest.raises(ValueError, match="quota"):
        mcu.mcu_quota({"mcu": {"quota": "per_batch"}})
