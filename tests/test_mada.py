"""MADA's selection score and losses against hand-computed cases from the paper's equations."""
import numpy as np
import pytest
import torch

from adaseg.evaluate import confusion_matrix, iou_from_confusion, summarize
from adaseg.features import class_mean_features, pixel_entropy, source_class_map
from adaseg.select.anchors import distance_to_anchors, fit_anchors, mean_squared_distance
from adaseg.select.selection_list import budget_pixels, make_selection, take_images_by_score
from adaseg.train.mada import ema_update_anchors, soft_alignment_loss


def test_mada_distance_eq5_by_hand():
    x = np.array([[0, 0, 0, 0], [2, 2, 2, 2], [3, 1, 0, 0]], float)
    a = np.array([[0, 0, 0, 0], [1, 1, 1, 1]], float)
    # d(x, a) = mean over the 4 dims of (x - a)^2
    # x1: 0 and 1; x2: 16/4 = 4 and 4/4 = 1; x3: (9+1)/4 = 2.5 and (4+0+1+1)/4 = 1.5
    np.testing.assert_allclose(mean_squared_distance(x, a), [[0, 1], [4, 1], [2.5, 1.5]])
    # eq. 5: D(x) = min over anchors
    np.testing.assert_allclose(distance_to_anchors(x, a), [0, 1, 1.5])


def test_mada_selection_takes_farthest_within_pixel_budget():
    ids = ["a", "b", "c"]
    scores = np.array([0.0, 1.0, 1.5])
    px = np.array([100, 100, 100])
    # budget = 1/3 of 300 px = 100 px -> only the farthest image, c
    assert take_images_by_score(ids, scores, px, 1 / 3) == [2]
    # budget 150 px -> c (100 px, still under) then b (200 px): exceeds by less than one image
    chosen = take_images_by_score(ids, scores, px, 0.5)
    assert chosen == [2, 1]
    sel = make_selection("mada", ids, scores, px, chosen, 0.5, seed=0)
    assert sel["budget_pixels"] == 150 and sel["pixels_labelled"] == 200
    assert [s["id"] for s in sel["selected"]] == ["c", "b"]
    assert sel["pixels_labelled"] - sel["budget_pixels"] < 100


def test_budget_five_percent_of_cityscapes():
    # 5% of 2,975 equally sized images: 148.75 images -> 149 (the 149th crosses the budget)
    px = np.full(2975, 2048 * 1024)
    chosen = take_images_by_score([str(i) for i in range(2975)], np.arange(2975.0), px, 0.05)
    assert len(chosen) == 149
    assert budget_pixels(0.05, int(px.sum())) == round(0.05 * 2975 * 2048 * 1024)
    with pytest.raises(ValueError):
        budget_pixels(1.5, 100)


def test_anchors_are_kmeans_centres():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.01, (20, 3)) + [0, 0, 0]
    b = rng.normal(0, 0.01, (20, 3)) + [5, 5, 5]
    anchors = fit_anchors(np.concatenate([a, b]), 2, seed=0)
    anchors = anchors[np.argsort(anchors[:, 0])]
    np.testing.assert_allclose(anchors, [a.mean(0), b.mean(0)], atol=1e-5)  # eq. 3


def test_class_mean_features_eq1_eq4_by_hand():
    f = torch.tensor([[[1., 2, 3], [4, 5, 6]], [[10, 20, 30], [40, 50, 60]]])[None]  # (1, D=2, 2, 3)
    cmap = torch.tensor([[[0, 0, 1], [1, 1, 255]]])
    means, counts = class_mean_features(f, cmap, num_classes=3, min_pixels=2)
    # class 0: pixels 1,2 / 10,20 -> (1.5, 15); class 1: pixels 3,4,5 / 30,40,50 -> (4, 40); class 2: none
    torch.testing.assert_close(means[0], torch.tensor([[1.5, 15], [4, 40], [0, 0]]))
    assert counts[0].tolist() == [2, 3, 0]
    means, _ = class_mean_features(f, cmap, num_classes=3, min_pixels=3)
    torch.testing.assert_close(means[0, 0], torch.zeros(2))  # < min_pixels -> zero row


def test_source_mask_is_gt_and_correct_prediction():
    logits = torch.zeros(1, 3, 2, 2)
    pred = torch.tensor([[0, 2], [2, 1]])
    logits.scatter_(1, pred[None, None], 1.0)
    gt = torch.tensor([[[0, 1], [2, 255]]])
    assert source_class_map(logits, gt)[0].tolist() == [[0, 255], [2, 255]]


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


def test_entropy_eq12_normalised():
    assert torch.allclose(pixel_entropy(torch.zeros(1, 19, 2, 2)), torch.ones(1, 2, 2))


def test_confusion_and_iou_by_hand():
    conf = confusion_matrix(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 255]), 2)
    # rows = ground truth: GT 0 -> pred 0; GT 1 -> pred 0 and pred 1; the 255 pixel is skipped
    assert conf.tolist() == [[1, 0], [1, 1]]
    # class 0: TP 1, FP 1, FN 0 -> 1/2; class 1: TP 1, FP 0, FN 1 -> 1/2
    np.testing.assert_allclose(iou_from_confusion(conf), [0.5, 0.5])


def test_synthia_miou13_drops_wall_fence_pole():
    conf = np.eye(16, dtype=np.int64)
    conf[3, 3] = conf[4, 4] = conf[5, 5] = 0
    conf[3, 0] = conf[4, 0] = conf[5, 0] = 1  # wall, fence, pole all wrong
    res = summarize(conf, "synthia16")
    assert res["iou"]["wall"] == 0 and res["iou"]["road"] == 25.0
    # 13 kept classes: road 1/4, the other 12 perfect
    assert res["miou13"] == pytest.approx((0.25 + 12) / 13 * 100, abs=1e-3)
