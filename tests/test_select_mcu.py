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
    m = adaptive_sampling(s, 4, np.random.default_rng(0), low_quantile=0.5, decay=0.9)
    assert m.tolist() == [[True, True, False, True, True, False]]
    labelled = np.zeros_like(m)
    labelled[0, 0] = True
    m2 = adaptive_sampling(s, 2, np.random.default_rng(0), labelled=labelled)
    assert not m2[0, 0] and m2[0, 1] and m2.sum() == 2


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
    m = adaptive_sampling(s, 8, np.random.default_rng(0), low_quantile=0.5, decay=0.9)
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
    m = adaptive_sampling(s, 20, np.random.default_rng(0))
    top = np.argsort(-s, axis=None, kind="stable")[:10]
    assert m.sum() == 20 and m.ravel()[top].all()
    assert (s[m] >= np.median(s)).all()        # the other half from G_m, never from G_l
