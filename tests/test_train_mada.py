"""adaseg.train.mada: MADA's soft anchor alignment loss (eq. 9) and EMA anchor update (eq. 8), by hand."""
import torch

from adaseg.train.mada import anchor_vectors, ema_update_anchors, merged_class_vector, soft_alignment_loss


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


def _tiny_batch():
    """2 images, 1 feature channel, 2x2 maps, 2 classes. Image 0: class 0 on 3 pixels (features
    1, 2, 3), class 1 on one (10); image 1: class 1 everywhere (4, 5, 6, 7)."""
    f = torch.tensor([[[[1.0, 2.0], [3.0, 10.0]]], [[[4.0, 5.0], [6.0, 7.0]]]], requires_grad=True)
    cls = torch.tensor([[[0, 0], [0, 1]], [[1, 1], [1, 1]]])
    logits = torch.nn.functional.one_hot(cls, 2).permute(0, 3, 1, 2).float()
    return f, logits


def test_batch_scaled_anchor_loss_merges_the_batch_and_scales_the_gradient_by_hand():
    """Official MADA (munanning/MADA models/adaptation_model.py:146-158, 216-221, models/utils.py:15-41):
    one vector, row c from the last image with class c: (mean of 1, 2, 3 = 2; mean of 4..7 = 5.5);
    image 0's class-1 pixel is overwritten. One anchor (0, 0): L = d = (2^2 + 5.5^2) / 2 = 17.125,
    dL/dv_c = v_c. Gradient of a pixel: v_c x (1 / n_c) x 2 n_c / (h w) = v_c x 2 / 4:
    image 0 class 0: 2 x 0.5 = 1; image 1: 5.5 x 0.5 = 2.75; image 0's class-1 pixel: 0."""
    f, logits = _tiny_batch()
    vec = anchor_vectors(f, logits, 2, 1, "batch_scaled")
    assert vec.shape == (1, 2)
    torch.testing.assert_close(vec.detach(), torch.tensor([[2.0, 5.5]]))
    loss = soft_alignment_loss(vec, torch.zeros(1, 2)).mean()
    torch.testing.assert_close(loss.detach(), torch.tensor(17.125))
    loss.backward()
    torch.testing.assert_close(f.grad, torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]], [[[2.75, 2.75], [2.75, 2.75]]]]))


def test_scale_factor_is_2_nc_over_hw_by_hand():
    """Without the scaling the same merged vector gives each pixel v_c / n_c: 2/3 and 5.5/4; with
    it, 2 n_c / (h w) times that (1.5 and 2 on the 2x2 map)."""
    f, logits = _tiny_batch()
    soft_alignment_loss(merged_class_vector(f, logits.argmax(1), 2, 1, scaled=False)[None],
                        torch.zeros(1, 2)).mean().backward()
    plain = f.grad.clone()
    torch.testing.assert_close(plain, torch.tensor([[[[2 / 3, 2 / 3], [2 / 3, 0.0]]], [[[5.5 / 4] * 2] * 2]]))
    f.grad = None
    soft_alignment_loss(merged_class_vector(f, logits.argmax(1), 2, 1, scaled=True)[None],
                        torch.zeros(1, 2)).mean().backward()
    torch.testing.assert_close(f.grad, plain * torch.tensor([2 * 3 / 4, 2 * 4 / 4])[[0, 1]].view(2, 1, 1, 1))


def test_per_image_anchor_loss_by_hand():
    """adaseg before: eq. 9 per image, mean over the batch, plain gradient. Image 0: v = (2, 10),
    image 1: v = (0, 5.5); L = ((4 + 100) / 2 + 30.25 / 2) / 2; pixel gradients 0.5 x v_c / n_c."""
    f, logits = _tiny_batch()
    vec = anchor_vectors(f, logits, 2, 1, "per_image")
    torch.testing.assert_close(vec.detach(), torch.tensor([[2.0, 10.0], [0.0, 5.5]]))
    loss = soft_alignment_loss(vec, torch.zeros(1, 2)).mean()
    torch.testing.assert_close(loss.detach(), torch.tensor((52.0 + 15.125) / 2))
    loss.backward()
    torch.testing.assert_close(f.grad, torch.tensor([[[[1 / 3, 1 / 3], [1 / 3, 5.0]]], [[[5.5 / 8] * 2] * 2]]))


def test_batch_scaled_ema_moves_one_anchor_once_per_batch():
    f, logits = _tiny_batch()
    anchors = torch.tensor([[0.0, 0.0], [100.0, 100.0]])
    ema_update_anchors(anchors, anchor_vectors(f, logits, 2, 1, "batch_scaled").detach(), alpha=0.5)
    torch.testing.assert_close(anchors, torch.tensor([[1.0, 2.75], [100.0, 100.0]]))
