"""adaseg.train.mada: MADA's soft anchor alignment loss (eq. 9) and EMA anchor update (eq. 8), by hand."""
import torch

from adaseg.train.mada import ema_update_anchors, soft_alignment_loss


def test_soft_alignment_loss_eq9_by_hand():
    f = torch.tensor([[0.0, 0.0]])
    anchors = torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    # d1 = (1+1)/2 = 1, d2 = (4+0)/2 = 2; L = V / (1/d1 + 1/d2) = 2 / 1.5
    torch.testing.assert_close(soft_alignment_loss(f, anchors), torch.tensor([4 / 3]))


def test_ema_update_eq8_by_hand():
    anchors = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    ema_update_anchors(anchors, torch.tensor([[1.0, 1.0]]), alpha=0.9)
    # nearest anchor is the first: 0.9 * 0 + 0.1 * 1 = 0.1; the other is untouched
    torch.testing.assert_close(anchors, torch.tensor([[0.1, 0.1], [10.0, 10.0]]))
