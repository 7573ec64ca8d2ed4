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
    # pi_low = median 0.45, so G_m = {0.5}: one more pixel; 0.4, 0.1, 0.05 are G_l
    m = adaptive_sampling(s, 4, np.random.default_rng(0), low_quantile=0.5, decay=0.9)
    assert m.tolist() == [[True, True, False, True, False, False]]
    labelled = np.zeros_like(m)
    labelled[0, 0] = True
    m2 = adaptive_sampling(s, 2, np.random.default_rng(0), labelled=labelled)
    assert not m2[0, 0] and m2[0, 1] and m2.sum() == 2
