"""adaseg.select.adversarial: the adversarial (MADAv2 eq. 17) and AADA (eq. 18) image scores, by hand."""
import numpy as np
import pytest

from adaseg.select.adversarial import aada_scores, adversarial_scores


def test_adversarial_eq17_and_aada_eq18_by_hand():
    # f_D = P(source) = 0.25: E_adv = 0.75 / 0.25 = 3; E_AADA = 0.5 * 3
    assert adversarial_scores(np.array([0.25, 0.5])) == pytest.approx([3.0, 1.0])
    assert aada_scores(np.array([0.25]), np.array([0.5])) == pytest.approx([1.5])
