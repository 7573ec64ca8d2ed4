"""adaseg.train.mcu_contrast: the ADA-MCU losses against values worked out by hand from eqs. 7-11."""
import math

import pytest
import torch

from adaseg.train.mcu_contrast import (c2c_infonce, class_centers, error_rates, multi_level_contrastive_loss,
                                       p2p_infonce, pair_weights, sample_pixels, update_dccm)

L1 = math.log(1 + math.exp(-1))   # -log(e / (e + 1)): positive dot 1, one negative dot 0, lambda 1
R2 = 1 / math.sqrt(2)


def t(x):
    return torch.tensor(x, dtype=torch.float32)


def lab(x):
    return torch.tensor(x, dtype=torch.long)


def test_error_rates_eq7():
    # class 0: 3 pixels, 2 predicted as 1 -> R[0,1] = 2/3; class 1: 2 pixels, 1 predicted as 0 -> R[1,0] = 1/2
    # class 2 absent -> row 0; the ignored pixel (predicted 2) does not count; diagonal 0.
    label = lab([[0, 0, 0], [1, 1, 255]])
    pred = lab([[0, 1, 1], [1, 0, 2]])
    R = error_rates(pred, label, 3)
    assert torch.allclose(R, t([[0, 2 / 3, 0], [0.5, 0, 0], [0, 0, 0]]))


def test_update_dccm_eq8_one_step():
    W, R = t([[0, .2], [.4, 0]]), t([[0, 1], [.5, 0]])
    # beta = 0.9: 0.9*0.2 + 0.1*1 = 0.28 ; 0.9*0.4 + 0.1*0.5 = 0.41
    assert torch.allclose(update_dccm(W, R, 0.9), t([[0, .28], [.41, 0]]))
    # class 1 absent from the batch: its row keeps 0.4
    out = update_dccm(W, R, 0.9, present=torch.tensor([True, False]))
    assert torch.allclose(out, t([[0, .28], [.4, 0]]))


def test_pair_weights():
    # w = 1 + W[u, v]: anchors (0, 1) x keys (0, 1, 1)
    W = t([[0, .5], [.2, 0]])
    assert torch.allclose(pair_weights(W, lab([0, 1]), lab([0, 1, 1])), t([[1, 1.5, 1.5], [1.2, 1, 1]]))


def test_p2p_single_anchor_eq10():
    # anchor (1,0), positive (1,0), negative (0,1), lambda 1: H = e/(e+1), loss = log(1+e^-1) = 0.3133
    loss = p2p_infonce(t([[3, 0]]), lab([0]), t([[2, 0], [0, 5]]), lab([0, 1]), 1.0)  # normalised inside
    assert loss.item() == pytest.approx(L1, abs=1e-6)
    assert loss.item() == pytest.approx(0.3133, abs=1e-4)


def test_p2p_weighted():
    # anchor (1,0), positive (1,0) (dot 1, w = 1 + W[0,0] = 1), negative (1,1)/sqrt2 (dot 0.7071, w = 1 + W[0,1] = 2),
    # lambda 0.5: loss = log(e^{1/0.5} + e^{2*0.7071/0.5}) - 2 = log(1 + e^{2.8284 - 2}) = log(1 + 2.2897) = 1.1908
    a, la, k, lk = t([[1, 0]]), lab([0]), t([[1, 0], [1, 1]]), lab([0, 1])
    W = t([[0, 1], [0, 0]])
    loss = p2p_infonce(a, la, k, lk, 0.5, weights=pair_weights(W, la, lk))
    assert loss.item() == pytest.approx(math.log(1 + math.exp(4 * R2 - 2)), abs=1e-5)
    assert loss.item() == pytest.approx(1.1908, abs=1e-4)
    # unweighted: log(1 + e^{1.4142 - 2}) = log(1 + 0.5567) = 0.4426
    assert p2p_infonce(a, la, k, lk, 0.5).item() == pytest.approx(math.log(1 + math.exp(2 * R2 - 2)), abs=1e-5)


def test_p2p_mean_over_positives_and_qualifying_anchors():
    # anchor (1,0) class 0; keys (1,0) c0, (0,1) c0, (-1,0) c1; lambda 1
    # positive 1: log(e^1 + e^-1) - 1 = log(1 + e^-2) = 0.1269 ; positive 2: log(e^0 + e^-1) = 0.3133
    # anchor loss = mean = 0.2201. Second anchor (class 2) has no positive -> not counted.
    loss = p2p_infonce(t([[1, 0], [0, 1]]), lab([0, 2]), t([[1, 0], [0, 1], [-1, 0]]), lab([0, 0, 1]), 1.0)
    expected = (math.log(1 + math.exp(-2)) + L1) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert loss.item() == pytest.approx(0.2201, abs=1e-4)


def test_p2p_exclude_self():
    f, y = t([[1, 0], [1, 0], [0, 1]]), lab([0, 0, 1])
    # exclude_self: anchors 0 and 1 each have the other as positive (dot 1) and (0,1) as negative -> log(1+e^-1);
    # anchor 2 has no positive left -> not counted. Loss = 0.3133
    assert p2p_infonce(f, y, f, y, 1.0, exclude_self=True).item() == pytest.approx(L1, abs=1e-6)
    # with self pairs: anchors 0, 1 unchanged (both positives dot 1); anchor 2: log(e + 2) - 1 = log(1 + 2e^-1) = 0.5514
    # mean = (2 * 0.3133 + 0.5514) / 3 = 0.3926
    expected = (2 * L1 + math.log(1 + 2 * math.exp(-1))) / 3
    assert p2p_infonce(f, y, f, y, 1.0).item() == pytest.approx(expected, abs=1e-6)


def test_p2p_no_qualifying_anchor_is_zero_with_graph():
    a = t([[1, 0]]).requires_grad_()
    loss = p2p_infonce(a, lab([0]), t([[1, 0]]), lab([0]), 1.0)   # no negative
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(a.grad, torch.zeros_like(a))


def test_class_centers():
    # class 0: mean of (1,0), (3,2) = (2,1); class 1: (0,4) (the (5,5) pixel is masked out); class 2 absent;
    # the ignored pixel (255) does not count
    f = t([[1, 0], [3, 2], [0, 4], [5, 5], [9, 9]])
    c, present = class_centers(f, lab([0, 0, 1, 1, 255]), torch.tensor([True, True, True, False, True]), 3)
    assert torch.allclose(c, t([[2, 1], [0, 4], [0, 0]]))
    assert present.tolist() == [True, True, False]


def test_c2c_eq11():
    ca, pa = t([[1, 0], [0, 1], [0, 0]]), torch.tensor([True, True, False])
    cb, pb = t([[2, 0], [1, 1], [0, 1]]), torch.tensor([True, True, True])
    # anchor c0 (1,0): positive b0 dot 1; negatives b1 dot 0.7071, b2 dot 0 -> log(e + e^0.7071 + 1) - 1
    # anchor c1 (0,1): positive b1 dot 0.7071; negatives b0 dot 0, b2 dot 1 -> log(e^0.7071 + 1 + e) - 0.7071
    s = math.log(math.e + math.exp(R2) + 1)
    assert c2c_infonce(ca, pa, cb, pb, 1.0).item() == pytest.approx(((s - 1) + (s - R2)) / 2, abs=1e-6)
    # W[0,1] = 1: anchor c0's negative b1 gets w = 2 -> log(e + e^1.4142 + 1) - 1; anchor c1 unchanged
    W = torch.zeros(3, 3)
    W[0, 1] = 1.0
    sw = math.log(math.e + math.exp(2 * R2) + 1)
    assert c2c_infonce(ca, pa, cb, pb, 1.0, W=W).item() == pytest.approx(((sw - 1) + (s - R2)) / 2, abs=1e-6)
    # only class 0 in b: no negative -> 0
    assert c2c_infonce(ca, pa, cb, torch.tensor([True, False, False]), 1.0).item() == 0.0


def test_sample_pixels_cap_and_determinism():
    B, D, H, W = 2, 3, 10, 10
    feats = torch.arange(B * H * W, dtype=torch.float32).view(B, 1, H, W).expand(B, D, H, W).clone()
    labels = (torch.arange(B * H * W).view(B, H, W) % 5)
    labels[0, 0, :] = 255                               # 10 ignored pixels in image 0
    mask = torch.ones(B, H, W, dtype=torch.bool)
    mask[1] = False
    mask[1, 0, 0] = True                                # image 1: a single valid pixel

    def run(seed, cap):
        return sample_pixels(feats, labels, mask, cap, torch.Generator().manual_seed(seed))

    out = run(0, 7)
    assert out[0][0].shape == (7, D) and out[0][1].shape == (7,)
    assert out[1][0].shape == (1, D)
    for f, y in out:                                   # rows are the pixels their labels belong to
        idx = f[:, 0].long()
        assert torch.equal(labels.view(-1)[idx], y)
        assert (y != 255).all()
    again = run(0, 7)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(out, again))
    assert not torch.equal(run(1, 7)[0][0], out[0][0])
    assert run(0, 1000)[0][0].shape[0] == 90           # fewer valid pixels than the cap: all of them


def _image(anchor, anchor_label, keys, key_labels, centers=((1, 0), (0, 1)), present=(True, True)):
    return (t([anchor]), lab([anchor_label])), (t(keys), lab(key_labels)), (t(list(centers)), torch.tensor(present))


def _domain(*images):
    return {"anchors": [i[0] for i in images], "keys": [i[1] for i in images], "centers": [i[2] for i in images]}


def test_multi_level_all_terms_hand_checked():
    # every image: anchor (1,0) c0, keys (1,0) c0 + (0,1) c1 -> every p2p term log(1+e^-1);
    # centres (1,0), (0,1) -> every c2c term log(1+e^-1). Each component is L1, total = 6 * L1.
    img = _image((1, 0), 0, [[1, 0], [0, 1]], [0, 1])
    src, tgt = _domain(img, img), _domain(img)
    total, logs = multi_level_contrastive_loss(src, tgt, 1.0)
    assert set(logs) == {f"{k}_{lv}" for k in ("p2p", "c2c") for lv in ("intra", "cross", "domain")}
    assert all(v == pytest.approx(L1, abs=1e-6) for v in logs.values())
    assert total.item() == pytest.approx(6 * L1, abs=1e-5)
    # switching levels / kinds off removes their keys and terms
    total, logs = multi_level_contrastive_loss(src, tgt, 1.0, levels=("intra", "domain"))
    assert set(logs) == {"p2p_intra", "c2c_intra", "p2p_domain", "c2c_domain"}
    assert total.item() == pytest.approx(4 * L1, abs=1e-5)
    total, logs = multi_level_contrastive_loss(src, tgt, 1.0, c2c=False)
    assert set(logs) == {"p2p_intra", "p2p_cross", "p2p_domain"}
    assert total.item() == pytest.approx(3 * L1, abs=1e-5)
    # W = 0 is plain InfoNCE
    assert multi_level_contrastive_loss(src, tgt, 1.0, W=torch.zeros(2, 2))[0].item() == pytest.approx(6 * L1, abs=1e-5)
    with pytest.raises(ValueError):
        multi_level_contrastive_loss(src, tgt, 1.0, levels=("global",))


def test_multi_level_pairing():
    # source image 0: anchor (1,0) c0, keys only class 0; image 1: anchor (0,1) c1, keys (1,0) c0 + (0,1) c1
    # intra: img0 has no negative (no term); img1 anchor c1 pos dot 1, neg dot 0 -> L1 (plus the target term below)
    # cross: anchor img0 vs keys img1 -> L1; anchor img1 (c1) vs keys img0 (no c1) -> none => p2p_cross = L1
    s0 = _image((1, 0), 0, [[1, 0]], [0])
    s1 = _image((0, 1), 1, [[1, 0], [0, 1]], [0, 1])
    # target image: anchor (0,1) c1, keys (1,1)/sqrt2 c1 + (1,0) c0
    # domain: src0 anchor c0 vs tgt keys: pos (1,0) dot 1, neg dot 0.7071 -> log(1 + e^{0.7071-1})
    #         src1 anchor c1 vs tgt keys: pos dot 0.7071, neg dot 0 -> log(1 + e^-0.7071)
    #         tgt anchor c1 vs src0 keys (i mod 2 = 0): no c1 key -> none
    # p2p_domain = mean of the two terms
    t0 = _image((0, 1), 1, [[1, 1], [1, 0]], [1, 0])
    _, logs = multi_level_contrastive_loss(_domain(s0, s1), _domain(t0), 1.0, c2c=False)
    # target intra: anchor c1 vs its own keys: pos dot 0.7071, neg dot 0 -> log(1 + e^-0.7071)
    # p2p_intra = mean over the active terms (src img1, tgt img0) = (L1 + log(1 + e^-0.7071)) / 2
    assert logs["p2p_intra"] == pytest.approx((L1 + math.log(1 + math.exp(-R2))) / 2, abs=1e-6)
    assert logs["p2p_cross"] == pytest.approx(L1, abs=1e-6)
    expected_domain = (math.log(1 + math.exp(R2 - 1)) + math.log(1 + math.exp(-R2))) / 2
    assert logs["p2p_domain"] == pytest.approx(expected_domain, abs=1e-6)


def test_multi_level_gradient_and_decrease():
    g = torch.Generator().manual_seed(0)
    B, D, H, W, C = 2, 4, 6, 6, 3
    labels = torch.randint(0, C, (B, H, W), generator=g)
    base = torch.randn(B, D, H, W, generator=g)
    feats = base.clone().requires_grad_()
    pred = torch.randint(0, C, (B, H, W), generator=g)

    def build(f, dom_labels, seed):
        gen = torch.Generator().manual_seed(seed)
        hard = pred != dom_labels
        flat = f.permute(0, 2, 3, 1)
        return {"anchors": sample_pixels(f, dom_labels, hard, 20, gen),
                "keys": sample_pixels(f, dom_labels, torch.ones_like(hard), 30, gen),
                "centers": [class_centers(flat[b].reshape(-1, D), dom_labels[b].reshape(-1),
                                          ~hard[b].reshape(-1), C) for b in range(B)]}

    def loss_of(f):
        return multi_level_contrastive_loss(build(f, labels, 1), build(f, labels, 2), 0.5)[0]

    loss = loss_of(feats)
    loss.backward()
    assert torch.isfinite(feats.grad).all() and feats.grad.abs().sum() > 0
    # pull same-class features towards their class direction: the loss drops
    proto = torch.randn(C, D, generator=g)
    closer = base + 3.0 * proto[labels].permute(0, 3, 1, 2)
    assert loss_of(closer).item() < loss.item()


# --- labelled pixels at their own resolution (mcu.label_resolution: full) --------------------------

F22 = t([[[0, 1], [2, 3]]])     # a 2x2, one-channel stride-4 feature map: f(y, x) = x + 2 y at cell centres


def test_point_features_bilinear_between_cells_by_hand():
    from adaseg.train.mcu_contrast import point_features
    # an 8x8 label map over the 2x2 map: pixel (i, j) sits at ((i + .5) / 4 - .5, (j + .5) / 4 - .5) cells.
    # (3, 4) -> (0.375, 0.625): 0*(.625*.375) + 1*(.625*.625) + 2*(.375*.375) + 3*(.375*.625) = 1.375 (= x + 2y);
    # (3.5, 3.5), between the four cells -> (0.5, 0.5): their mean 1.5; (0, 0) -> (-0.375, -0.375), clamped to 0
    ys, xs = t([3, 3.5, 0, 7]), t([4, 3.5, 0, 7])
    out = point_features(F22, ys, xs, (8, 8))
    assert out.shape == (4, 1)
    assert out[:, 0].tolist() == pytest.approx([1.375, 1.5, 0.0, 3.0], abs=1e-6)
    # the same values as upsampling the whole map (models.upsample) and reading the pixels
    from adaseg.models import upsample
    up = upsample(F22[None], (8, 8))[0, 0]
    assert out[0, 0].item() == pytest.approx(up[3, 4].item(), abs=1e-6)
    assert out[3, 0].item() == pytest.approx(up[7, 7].item(), abs=1e-6)


def test_sample_points_keeps_labelled_pixels_nearest_downsampling_drops():
    from adaseg.train.mcu_contrast import sample_points
    labels = torch.full((1, 8, 8), 255, dtype=torch.long)
    labels[0, 3, 4] = 1                                   # one labelled pixel, not on the stride-4 grid
    feats = F22[None].clone().requires_grad_()
    nearest = torch.nn.functional.interpolate(labels[:, None].float(), size=(2, 2), mode="nearest")[:, 0]
    assert (nearest == 255).all()                          # stride 4: the labelled pixel is lost
    out = sample_points(feats, labels, torch.ones_like(labels, dtype=torch.bool), 10, torch.Generator().manual_seed(0))
    (f, y), = out
    assert y.tolist() == [1] and f[0, 0].item() == pytest.approx(1.375, abs=1e-6)
    f.sum().backward()                                     # the bilinear weights reach the four cells
    assert feats.grad[0].flatten().tolist() == pytest.approx([0.234375, 0.390625, 0.140625, 0.234375], abs=1e-6)


def test_sample_points_draws_the_pixels_sample_pixels_draws():
    from adaseg.train.mcu_contrast import sample_points
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (2, 8, 8), generator=g)
    mask = torch.rand(2, 8, 8, generator=g) > 0.5
    feats = torch.randn(2, 4, 2, 2, generator=g)
    up = torch.nn.functional.interpolate(feats, size=(8, 8), mode="bilinear", align_corners=False)
    a = sample_points(feats, labels, mask, 5, torch.Generator().manual_seed(3))
    b = sample_pixels(up, labels, mask, 5, torch.Generator().manual_seed(3))
    for (fa, ya), (fb, yb) in zip(a, b):
        assert torch.equal(ya, yb) and torch.allclose(fa, fb, atol=1e-6)


def test_class_centers_at_label_resolution_by_hand():
    from adaseg.train.mcu_contrast import class_centers_at
    labels = torch.full((8, 8), 255, dtype=torch.long)
    labels[3, 4] = 0                                       # 1.375
    labels[0, 0] = 0                                       # 0
    labels[7, 7] = 2                                       # 3
    labels[7, 6] = 2                                       # masked out
    mask = torch.ones(8, 8, dtype=torch.bool)
    mask[7, 6] = False
    c, present = class_centers_at(F22, labels, mask, 3)
    assert c[:, 0].tolist() == pytest.approx([0.6875, 0.0, 3.0], abs=1e-6)
    assert present.tolist() == [True, False, True]


# --- pseudo-labels (mcu.pseudo_labels) -------------------------------------------------------------

def test_sample_group_counts_and_determinism():
    from adaseg.train.mcu_contrast import sample_group
    mask = torch.zeros(2, 4, 5, dtype=torch.bool)
    mask[0, :2] = True                                     # 10 candidates
    mask[1, 0, :3] = True                                  # 3 candidates
    out = sample_group(mask, [4, 7], torch.Generator().manual_seed(0))
    assert out[0].sum() == 4 and out[1].sum() == 3 and not (out & ~mask).any()
    assert torch.equal(out, sample_group(mask, [4, 7], torch.Generator().manual_seed(0)))
    assert torch.equal(sample_group(mask, None), mask)


def test_soft_pseudo_labels_eq5_targets_are_the_softmax():
    from adaseg.train.mcu_contrast import soft_pseudo_label_loss
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]], [[1.0, 1.0]]]]).requires_grad_()   # (1, 3, 1, 2)
    chosen = torch.tensor([[[True, False]]])
    loss, target = soft_pseudo_label_loss(logits, chosen)
    p = torch.softmax(torch.tensor([2.0, 0.0, 1.0]), 0)
    assert torch.allclose(target, p[None])                 # y~ = softmax(p) at the chosen pixel
    assert loss.item() == pytest.approx(float(-(p * p.log()).sum()), abs=1e-6)   # CE(p, softmax p) = H(p)
    loss.backward()
    assert logits.grad[0, :, 0, 1].abs().sum() == 0        # an unchosen pixel gets no gradient
    # detached target: d/dz of -sum q log softmax(z) = softmax(z) - q = 0 at q = softmax(z)
    assert torch.allclose(logits.grad[0, :, 0, 0], torch.zeros(3), atol=1e-6)


def test_pseudo_label_pixels_m_e_half_per_image():
    from adaseg.train.mcu import pseudo_label_pixels
    labels = torch.full((2, 4, 8), 255, dtype=torch.long)
    labels[0, 0, :6] = 3                                   # image 0: 6 labelled -> M_e/2 = 3 pseudo-labels
    labels[1, 0, :3] = 1                                   # image 1: 3 labelled -> 1
    low = torch.zeros(2, 4, 8, dtype=torch.bool)
    low[:, 1:3] = True                                     # G_l: 16 unlabelled pixels per image
    low[:, 0, :2] = True                                   # low but labelled: never pseudo-labelled
    gen = torch.Generator().manual_seed(0)
    out = pseudo_label_pixels(low, labels, "sampled_soft", True, gen)
    assert out.flatten(1).sum(1).tolist() == [3, 1]
    assert not (out & (labels != 255)).any() and not (out & ~low).any()
    same = pseudo_label_pixels(low, labels, "sampled_soft", True, torch.Generator().manual_seed(0))
    assert torch.equal(out, same)
    cand = low & (labels == 255)                           # without adaptive sampling / all_hard: all of G_l
    assert torch.equal(pseudo_label_pixels(low, labels, "sampled_soft", False, gen), cand)
    assert torch.equal(pseudo_label_pixels(low, labels, "all_hard", True, gen), cand)
