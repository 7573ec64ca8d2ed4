"""adaseg.train.losses: MADAv2 and RIPU second-stage losses and augmentations, each against a hand-computed case."""
import math

import numpy as np
import pytest
import torch

from adaseg.train.losses import (class_log_confidence, class_sampling_weights, copy_paste, cutmix,
                                 cutmix_donor_probability, local_consistency_loss, negative_learning_loss,
                                 ohem_cross_entropy, pick_paste_classes, random_box)


def _logits_for(p_true):
    """Two classes, label 0 everywhere, with P(label) = p_true: logit_0 = log(p / (1 - p)), logit_1 = 0."""
    p = torch.tensor(p_true, dtype=torch.float64)
    return torch.stack([torch.log(p / (1 - p)), torch.zeros_like(p)])[None, :, None, :], torch.zeros(1, 1, len(p_true), dtype=torch.long)


def test_ohem_by_hand():
    logits, y = _logits_for([0.9, 0.6, 0.3, 0.8])
    # min_kept 1: threshold max(smallest p = 0.3, 0.7) = 0.7 -> pixels with p 0.6 and 0.3
    assert ohem_cross_entropy(logits, y, 0.7, 1).item() == pytest.approx(-(math.log(0.6) + math.log(0.3)) / 2)
    # min_kept 3: the 3rd smallest p is 0.8 > 0.7, so the threshold rises to 0.8 -> 0.6, 0.3, 0.8
    assert ohem_cross_entropy(logits, y, 0.7, 3).item() == pytest.approx(
        -(math.log(0.6) + math.log(0.3) + math.log(0.8)) / 3)
    # min_kept >= the labelled pixels: plain CE over all of them
    assert ohem_cross_entropy(logits, y, 0.7, 4).item() == pytest.approx(
        -(math.log(0.9) + math.log(0.6) + math.log(0.3) + math.log(0.8)) / 4)
    # ignored pixels never count
    y2 = y.clone()
    y2[0, 0, 1] = 255
    assert ohem_cross_entropy(logits, y2, 0.7, 1).item() == pytest.approx(-math.log(0.3))


def test_class_confidence_eq10_and_weights_eq11_by_hand():
    prob = torch.tensor([[0.5, 0.25, 0.2], [0.5, 0.75, 0.8]]).view(1, 2, 1, 3)
    pseudo = torch.tensor([[[0, 0, 1]]])
    sums, counts = class_log_confidence(prob.log(), pseudo, 2)
    # class 0: pixels 0 and 1 -> log 0.5 + log 0.25; class 1: pixel 2 -> log 0.8
    assert sums.tolist() == pytest.approx([math.log(0.5) + math.log(0.25), math.log(0.8)])
    assert counts.tolist() == [2, 1]
    # eq. 11: softmax over present classes of 1 - Conf: Conf = (-1, -0.1), class 2 absent
    w = class_sampling_weights(np.array([-1.0, -0.1, 0.0]), np.array([True, True, False]))
    e2, e11 = math.exp(2.0), math.exp(1.1)
    assert w.tolist() == pytest.approx([e2 / (e2 + e11), e11 / (e2 + e11), 0.0])
    # r of an image = summed weight of its classes: (0.25) and (0.25 + 0.75), normalised -> 0.2, 0.8
    r = cutmix_donor_probability(np.array([[1, 0], [1, 1]], bool), np.array([0.25, 0.75]))
    assert r.tolist() == pytest.approx([0.2, 0.8])


def test_cutmix_eq9_and_copy_paste_eq12_by_hand():
    rng = np.random.default_rng(0)
    y0, y1, x0, x1 = random_box(4, 8, 0.25, rng)
    assert (y1 - y0, x1 - x0) == (2, 4)                      # a quarter of the area, same aspect
    x_dst, x_src = torch.zeros(3, 4, 8), torch.ones(3, 4, 8)
    y_dst, y_src = torch.zeros(4, 8, dtype=torch.long), torch.full((4, 8), 5)
    x, y = cutmix(x_dst, y_dst, x_src, y_src, (1, 3, 2, 6))
    assert x.sum() == 3 * 2 * 4 and (y == 5).sum() == 8 and (y[1:3, 2:6] == 5).all()
    # copy-paste: only the pixels of the chosen class move, exactly
    y_src = torch.tensor([[1, 2], [2, 255]])
    x_src = torch.arange(8.0).view(2, 2, 2)
    x, y = copy_paste(torch.zeros(2, 2, 2), torch.zeros(2, 2, dtype=torch.long), x_src, y_src, [2])
    assert y.tolist() == [[0, 2], [2, 0]]
    assert x[:, 0, 1].tolist() == [1.0, 5.0] and x[:, 0, 0].tolist() == [0.0, 0.0]
    # classes to paste: drawn by eq. 11 weight; a zero-weight class is never drawn
    assert pick_paste_classes(y_src, np.array([0.0, 0.0, 1.0]), 2, rng) == [2]


def test_ripu_local_consistency_eq9_by_hand():
    # a 1x3 image, 2 classes: P = (1,0), (0,1), (0,1)
    prob = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]).view(1, 2, 1, 3)
    # pixel 0: neighbours {0, 1}: mean (0.5, 0.5) -> L1 = 1; pixel 1: {0, 1, 2}: (1/3, 2/3) -> 2/3;
    # pixel 2: {1, 2}: (0, 1) -> 0; mean over pixels = 5/9
    assert local_consistency_loss(prob).item() == pytest.approx(5 / 9)


def test_ripu_negative_learning_eq11_by_hand():
    prob = torch.tensor([0.96, 0.03, 0.01]).view(1, 3, 1, 1).requires_grad_()
    # negatives (p < 0.05): 0.03 and 0.01 -> -(log 0.97 + log 0.99) / 2
    loss = negative_learning_loss(prob, 0.05)
    assert loss.item() == pytest.approx(-(math.log(0.97) + math.log(0.99)) / 2)
    loss.backward()
    assert prob.grad[0, 0].item() == 0 and prob.grad[0, 1].item() > 0   # pushes negatives down
    assert negative_learning_loss(torch.full((1, 2, 1, 1), 0.5), 0.05).item() == 0


# ---------------------------------------------------------------- MADAv2 step 3 switches (train/madav2.py)

def test_acm_box_is_the_bounding_box_of_a_class_component_by_hand():
    """munanning/MADAv2 models/utils.py:155-182: the box of a connected component (8-connected) of the
    sampled class with more than min_area x h^2 pixels. Class 3: a 2x3 block at rows 1-2, cols 1-3
    plus a diagonal neighbour at (3, 4) (one 8-connected component: rows 1-3, cols 1-4), and a single
    pixel at (6, 6) (too small for min_area 2/64)."""
    from adaseg.train.madav2 import acm_box, class_component_box

    pred = np.zeros((8, 8), dtype=np.int64)
    pred[1:3, 1:4] = 3
    pred[3, 4] = 3
    pred[6, 6] = 3
    rng = np.random.default_rng(0)
    for _ in range(5):  # the small component never qualifies, whatever the visiting order
        assert class_component_box(pred, 3, 2 / 64, rng) == (1, 4, 1, 5)
    assert class_component_box(pred, 5, 0.0, rng) is None            # class absent
    assert class_component_box(pred, 3, 7 / 64, rng) is None         # 7 pixels is not more than 7
    # min_area 0: either component; the single pixel's box is (6, 7, 6, 7)
    seen = {class_component_box(pred, 3, 0.0, np.random.default_rng(s)) for s in range(20)}
    assert seen == {(1, 4, 1, 5), (6, 7, 6, 7)}
    # acm_box samples a class of the donor by its eq. 11 weight: all weight on class 3
    w = np.zeros(19)
    w[3] = 1.0
    assert acm_box(pred, w, "class_component", 0.5, 2 / 64, rng) == (1, 4, 1, 5)
    # random mode: a random box of half the area (4 x 4 of 8 x 8 at the image's aspect ratio, rounded)
    y0, y1, x0, x1 = acm_box(pred, w, "random", 0.25, 2 / 64, rng)
    assert (y1 - y0, x1 - x0) == (4, 4)
    # no component large enough: a random box of `area`
    y0, y1, x0, x1 = acm_box(pred, w, "class_component", 0.25, 0.5, rng)
    assert (y1 - y0, x1 - x0) == (4, 4)


def test_anchor_loss_is_off_before_the_start_fraction():
    """munanning/MADAv2 models/adaptation_model_AEL.py:373 (epoch > 50 of 200): anchor_start 0.25 of
    100 iterations -> off for it 0..24, on from 25; 0 -> from the start; a later round of a split
    schedule counts from its offset."""
    from adaseg.train.madav2 import anchor_loss_on

    assert [anchor_loss_on(it, 0.25, 100) for it in (0, 24, 25, 99)] == [False, False, True, True]
    assert anchor_loss_on(0, 0.0, 100)
    assert not anchor_loss_on(0, 1.0, 100)
    assert anchor_loss_on(0, 0.25, 100, offset=50)


def test_acp_excluded_classes_are_never_pasted():
    """munanning/MADAv2 models/adaptation_model_AEL.py:154-156: road, sidewalk, building, vegetation,
    sky (trainIds 0, 1, 2, 8, 10) are never pasted; in SYNTHIA's 16 classes sky is trainId 9."""
    from adaseg.train.madav2 import excluded_class_ids

    names = ["road", "sidewalk", "building", "vegetation", "sky"]
    assert excluded_class_ids(names, "cityscapes19") == [0, 1, 2, 8, 10]
    assert excluded_class_ids(names + ["terrain"], "synthia16") == [0, 1, 2, 8, 9]
    w = np.full(19, 1 / 19)
    w[[0, 1, 2, 8, 10]] = 0.0
    label = torch.tensor([[0, 1, 2, 8], [10, 13, 13, 0]])
    for s in range(10):
        assert pick_paste_classes(label, w, 3, np.random.default_rng(s)) == [13]


def test_ripu_local_consistency_on_class_boundaries_by_hand():
    """The official boundary rule: 8-neighbour Laplacian of the label map (zero padding) non-zero,
    ignored pixels out; the loss is the eq. 9 discrepancy averaged over those pixels only."""
    import torch

    from adaseg.train.losses import local_consistency_loss, semantic_boundary
    lab = torch.zeros(1, 4, 4, dtype=torch.long)
    lab[0, :, 2:] = 1                         # a vertical boundary between columns 1 and 2
    lab[0, 0, 0] = 255
    b = semantic_boundary(lab)[0]
    # class 0 pixels next to class 1: column 1; class 1 pixels: columns 2 and 3 (the border, zero padding);
    # (1, 0) touches the void pixel, which the official rule counts as another class; void itself is out
    assert b[1:, 1].all() and b[:, 2].all() and b[:, 3].all() and b[1, 0] and not b[2:, 0].any() and not b[0, 0]
    prob = torch.zeros(1, 2, 4, 4)
    prob[:, 0] = 1.0
    prob[0, :, 1, 1] = torch.tensor([0.0, 1.0])  # one odd pixel, inside class 0's area but on the boundary
    everywhere = local_consistency_loss(prob)
    on_boundary = local_consistency_loss(prob, lab)
    assert everywhere > 0 and on_boundary > 0 and not torch.isclose(everywhere, on_boundary)
    # a uniform prediction has no discrepancy anywhere
    assert float(local_consistency_loss(torch.full((1, 2, 4, 4), 0.5), lab)) == 0.0
