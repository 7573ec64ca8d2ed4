"""adaseg.select.uncertainty: entropy, least-confidence and margin image scores, by hand."""
import pytest
import torch

from adaseg.features import image_uncertainty
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
