"""adaseg.features: class-mean features, class maps, entropy and gradient embeddings, by hand."""
import torch

from adaseg.features import class_mean_features, gradient_embedding, pixel_entropy, source_class_map


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


def test_entropy_eq12_normalised():
    assert torch.allclose(pixel_entropy(torch.zeros(1, 19, 2, 2)), torch.ones(1, 2, 2))


def test_gradient_embedding_by_hand():
    prob = torch.tensor([[[[0.7]], [[0.3]]]])   # one pixel, p = (0.7, 0.3), predicted class 0
    feat = torch.tensor([[[[2.0]]]])            # D = 1
    # (p - onehot) x f = (-0.3, 0.3) * 2
    torch.testing.assert_close(gradient_embedding(prob, feat), torch.tensor([[[-0.6], [0.6]]]))


def test_min_pixels_scales_with_the_feature_map_area():
    from adaseg.features import effective_min_pixels
    cfg = {"features": {"min_pixels": 10, "min_pixels_at": [256, 512]}}
    assert effective_min_pixels(cfg, (256, 512)) == 10          # the official map: as given
    assert effective_min_pixels(cfg, (128, 256)) == 2           # a quarter of the area: 2.5 -> 2
    assert effective_min_pixels(cfg, (16, 32)) == 1             # the proxy's map: at least 1 px
    cfg["features"]["min_pixels_at"] = None
    assert effective_min_pixels(cfg, (16, 32)) == 10            # null: as given


def test_image_true_loss_by_hand():
    import math

    import torch

    from adaseg.features import image_true_loss
    prob = torch.zeros(1, 2, 1, 3)
    prob[0, 0, 0] = torch.tensor([0.5, 0.25, 0.9])
    prob[0, 1] = 1 - prob[0, 0]
    labels = torch.tensor([[[0, 1, 255]]])
    out = image_true_loss(prob, labels)
    l0, l1 = -math.log(0.5), -math.log(0.75)
    assert abs(float(out["true_loss"][0]) - (l0 + l1) / 2) < 1e-6       # the ignored pixel is not counted
    assert torch.allclose(out["true_class_loss"][0], torch.tensor([l0, l1]))
    assert out["true_class_pixels"][0].tolist() == [1.0, 1.0]
