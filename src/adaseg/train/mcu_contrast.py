"""ADA-MCU training losses (Sec. III.C-D, eqs. 5, 7-11, Algorithm 1): the dynamic category correlation
matrix (DCCM), the pixel-to-pixel (p2p) / centre-to-centre (c2c) InfoNCE losses of the
multi-level contrastive units (intra-image, cross-image, cross-domain), the sampled soft
pseudo-labels of the low-uncertainty group (Alg. 1 l.12, eq. 5), and the features of labelled
pixels at their own (label) resolution, read by bilinear interpolation of the stride-4 feature map
(`point_features`, `sample_points`, `class_centers_at`), as pure torch functions.

Where the paper is silent, the choices made here are stated in the docstrings (W scale, self pairs,
rows of absent classes, how terms are averaged).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LEVELS = ("intra", "cross", "domain")


def error_rates(pred: torch.Tensor, label: torch.Tensor, num_classes: int,
                ignore: int = 255) -> torch.Tensor:
    """Per-batch error-rate matrix R (C, C): R[u, v] = #pixels of true class u predicted as v divided
    by #pixels of class u, for u != v; the diagonal and the rows of absent classes are 0.
    pred and label are integer maps of the same shape; pixels labelled `ignore` (or out of range)
    do not count."""
    pred, label = pred.reshape(-1).long(), label.reshape(-1).long()
    valid = (label != ignore) & (label >= 0) & (label < num_classes) & (pred >= 0) & (pred < num_classes)
    idx = label[valid] * num_classes + pred[valid]
    counts = torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes).float()
    R = counts / counts.sum(1, keepdim=True).clamp(min=1.0)  # eq. (7): R^(u,v) = M^(u,v) / M^u
    return R.fill_diagonal_(0.0)


def update_dccm(W: torch.Tensor, R: torch.Tensor, beta: float,
                present: torch.Tensor | None = None) -> torch.Tensor:
    """One EMA step of the DCCM, returning a new (C, C) tensor: beta * W + (1 - beta) * R.
    Choice: only the rows of classes present in the batch (`present`, (C,) bool, e.g.
    `torch.bincount(label[label != 255], minlength=C) > 0`) are updated, so a class that is absent
    from a batch (R row 0 by definition, not by evidence) does not decay towards 0. With
    present=None every row is updated (eq. 8 read literally)."""
    new = beta * W + (1.0 - beta) * R  # eq. (8): w_t = beta w_{t-1} + (1 - beta) R
    if present is None:
        return new
    return torch.where(present.to(W.device).view(-1, 1), new, W)


def pair_weights(W: torch.Tensor, anchor_labels: torch.Tensor, key_labels: torch.Tensor) -> torch.Tensor:
    """Multiplier w^(u,v) of eq. 10 between every anchor (class u) and key (class v), shape (N, M):
    w = 1 + W[u, v]. Interpretation (the paper gives neither the initial value nor the scale of W):
    W = 0 (DCCM off, or at initialisation) gives plain InfoNCE, positives (u = u, diagonal 0) always
    have weight 1, and class pairs often confused (u predicted as v) get a larger weight."""
    return 1.0 + W[anchor_labels.long().view(-1, 1), key_labels.long().view(1, -1)]  # eq. (10) w^(u,v)


def _infonce_terms(anchor_feats, anchor_labels, key_feats, key_labels, temperature, *,
                   weights=None, exclude_self=False):
    """Eqs. 9-10; returns (mean loss over qualifying anchors, number of qualifying anchors)."""
    a = F.normalize(anchor_feats, dim=1)
    k = F.normalize(key_feats, dim=1)
    zero = anchor_feats.sum() * 0.0 + key_feats.sum() * 0.0
    if a.shape[0] == 0 or k.shape[0] == 0:
        return zero, 0
    pos = anchor_labels.view(-1, 1) == key_labels.view(1, -1)
    neg = ~pos
    if exclude_self:
        if a.shape[0] != k.shape[0]:
            raise ValueError("exclude_self needs anchors and keys to be the same pixels")
        pos = pos & ~torch.eye(a.shape[0], dtype=torch.bool, device=pos.device)
    ok = pos.any(1) & neg.any(1)
    n = int(ok.sum())
    if n == 0:
        return zero, 0
    logits = a[ok] @ k.t() / temperature
    if weights is not None:
        logits = logits * weights[ok].to(logits.dtype)  # eq. (10): w^(u,v) p.k / lambda
    pos, neg = pos[ok], neg[ok]
    neg_lse = torch.logsumexp(logits.masked_fill(~neg, float("-inf")), dim=1, keepdim=True)
    # -log H_p = log(exp(s+) + sum exp(s-)) - s+   (eq. 10), one per (anchor, positive) pair
    nll = torch.logaddexp(logits, neg_lse) - logits
    per_anchor = (nll * pos).sum(1) / pos.sum(1)  # eq. (9): mean over P_p
    return per_anchor.mean(), n


def p2p_infonce(anchor_feats: torch.Tensor, anchor_labels: torch.Tensor, key_feats: torch.Tensor,
                key_labels: torch.Tensor, temperature: float, *, weights: torch.Tensor | None = None,
                exclude_self: bool = False) -> torch.Tensor:
    """Pixel-to-pixel InfoNCE (eqs. 9-10). anchor_feats (N, D), key_feats (M, D), both L2-normalised
    here; labels (N,), (M,). Each key of the anchor's class is a positive, every other key a
    negative; per anchor the loss is the mean over its positives of -log H_p with
    H_p = exp(w p.p+/l) / (exp(w p.p+/l) + sum_{p-} exp(w p.p-/l)); the result is the mean over
    anchors with at least one positive and one negative (a graph-connected 0 when none qualify).
    weights (N, M) is the w^(u,v) of `pair_weights` (None = 1). exclude_self=True when anchors and
    keys are the same tensor: the anchor itself (diagonal) is then not a positive. Anchors that are
    merely also sampled among the keys are not detected (a trivial positive, as in Wang et al.)."""
    return _infonce_terms(anchor_feats, anchor_labels, key_feats, key_labels, temperature,
                          weights=weights, exclude_self=exclude_self)[0]


def class_centers(feats: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                  num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean feature per class over the pixels where mask is True (the low-uncertainty group,
    Sec. III.B.1). feats (N, D), labels (N,), mask (N,) bool; labels outside [0, C) are ignored.
    Returns centres (C, D) (rows of absent classes are 0) and present (C,) bool. Differentiable."""
    labels = labels.reshape(-1).long()
    keep = mask.reshape(-1).bool() & (labels >= 0) & (labels < num_classes)
    f, y = feats[keep], labels[keep]
    sums = feats.new_zeros(num_classes, feats.shape[1]).index_add(0, y, f)
    counts = torch.bincount(y, minlength=num_classes).to(feats.dtype)
    return sums / counts.clamp(min=1.0).view(-1, 1), counts > 0  # Sec. III.B.1 category centres


def _c2c_terms(centers_a, present_a, centers_b, present_b, temperature, *, W=None):
    la = torch.nonzero(present_a).view(-1)
    lb = torch.nonzero(present_b).view(-1)
    w = pair_weights(W, la, lb) if W is not None else None
    # eq. (11): eq. 10 with class centres as anchors (from a) and keys (from b)
    return _infonce_terms(centers_a[la], la, centers_b[lb], lb, temperature, weights=w)


def c2c_infonce(centers_a: torch.Tensor, present_a: torch.Tensor, centers_b: torch.Tensor,
                present_b: torch.Tensor, temperature: float, *, W: torch.Tensor | None = None) -> torch.Tensor:
    """Centre-to-centre InfoNCE (eq. 11): the present centres of a are anchors, the present centres
    of b are keys; the positive is b's centre of the same class, the negatives b's other present
    centres (weighted by 1 + W[u, v] when W is given). When a and b are the same image (intra
    level) the positive is the anchor itself (constant numerator) and the loss only pushes the
    other centres away. Classes absent from b (or alone in b) give no term."""
    return _c2c_terms(centers_a, present_a, centers_b, present_b, temperature, W=W)[0]


def sample_pixels(feats: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, max_per_image: int,
                  generator: torch.Generator | None = None, *, ignore: int = 255):
    """Seeded random subsample of at most max_per_image valid pixels (mask True and label != ignore)
    per image. feats (B, D, H, W), labels (B, H, W), mask (B, H, W) bool. Returns a list, one per
    image, of (feats (n, D), labels (n,)); feats keep their autograd graph. `generator` is a CPU
    torch.Generator (the permutation is drawn on CPU, so results do not depend on the device)."""
    B, D = feats.shape[:2]
    flat_f = feats.reshape(B, D, -1)
    flat_y = labels.reshape(B, -1)
    out = []
    for b, idx in enumerate(_sample_indices(labels, mask, max_per_image, generator, ignore)):
        out.append((flat_f[b][:, idx].t(), flat_y[b][idx].long()))
    return out


def _sample_indices(labels: torch.Tensor, mask: torch.Tensor, max_per_image: int | None,
                    generator: torch.Generator | None, ignore: int = 255) -> list[torch.Tensor]:
    """Per image, the flat indices of at most max_per_image (None: all) valid pixels (mask True,
    label != ignore), a seeded uniform draw without replacement (CPU permutation)."""
    B = labels.shape[0]
    flat_y = labels.reshape(B, -1)
    valid = mask.reshape(B, -1).bool() & (flat_y != ignore)
    out = []
    for b in range(B):
        idx = torch.nonzero(valid[b]).view(-1)
        if max_per_image is not None and idx.numel() > max_per_image:
            perm = torch.randperm(idx.numel(), generator=generator)[:max_per_image]
            idx = idx[perm.to(idx.device)]
        out.append(idx)
    return out


def _feature_coords(ys: torch.Tensor, xs: torch.Tensor, size, feat_size) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions in the feature map (h, w) of pixels (ys, xs) of a map of `size` (H, W), with the
    convention of bilinear upsampling without aligned corners (models.upsample): the centre of
    pixel j sits at (j + 0.5) w / W - 0.5 feature cells."""
    (H, W), (h, w) = size, feat_size
    fy = (ys.to(torch.float64) + 0.5) * (h / H) - 0.5
    fx = (xs.to(torch.float64) + 0.5) * (w / W) - 0.5
    return fy, fx


def point_features(feats: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, size) -> torch.Tensor:
    """Features (N, D) of the pixels (ys, xs) (integer or fractional rows and columns of a map of
    `size` (H, W), e.g. the label map) read from the lower-resolution feature map feats (D, h, w) by
    bilinear interpolation (`torch.nn.functional.grid_sample`, border padding): the value
    `models.upsample(feats, size)` has at those pixels, without upsampling the whole map.
    Differentiable in feats. This is how labelled pixels reach the contrastive units at the
    resolution they were labelled at (mcu.label_resolution: full) instead of surviving a nearest
    downsampling of the label map to stride 4."""
    D, h, w = feats.shape
    H, W = size
    fy, fx = _feature_coords(ys, xs, size, (h, w))
    # normalised grid coordinates (align_corners=False): -1 and 1 are the outer edges of the map
    gy = ((fy + 0.5) * 2.0 / h - 1.0).to(feats.dtype)
    gx = ((fx + 0.5) * 2.0 / w - 1.0).to(feats.dtype)
    grid = torch.stack([gx, gy], -1).view(1, 1, -1, 2).to(feats.device)
    out = F.grid_sample(feats[None], grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, 0].t()


def bilinear_weights(ys: torch.Tensor, xs: torch.Tensor, size, feat_size) -> tuple[torch.Tensor, torch.Tensor]:
    """The 4 feature cells (flat indices (N, 4) into h * w) and weights (N, 4) that `point_features`
    interpolates for each pixel (ys, xs) of a map of `size` (positions clamped to the map, as the
    border padding)."""
    h, w = feat_size
    fy, fx = _feature_coords(ys, xs, size, feat_size)
    fy, fx = fy.clamp(0, h - 1), fx.clamp(0, w - 1)
    y0, x0 = fy.floor().long(), fx.floor().long()
    y1, x1 = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
    wy, wx = fy - y0, fx - x0
    idx = torch.stack([y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1], 1)
    wts = torch.stack([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx], 1)
    return idx, wts


def sample_points(feats: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, max_per_image: int,
                  generator: torch.Generator | None = None, *, ignore: int = 255):
    """`sample_pixels` with labels and mask at their own resolution (B, H, W) and feats at a lower
    one (B, D, h, w): the same seeded draw of pixels (the same generator gives the pixels
    `sample_pixels` would draw on maps of that size), whose features are read by bilinear
    interpolation at the pixels' positions (`point_features`). Returns [(feats (n, D), labels (n,))]."""
    B, H, W = labels.shape
    flat_y = labels.reshape(B, -1)
    out = []
    for b, idx in enumerate(_sample_indices(labels, mask, max_per_image, generator, ignore)):
        ys, xs = idx // W, idx % W
        out.append((point_features(feats[b], ys, xs, (H, W)), flat_y[b][idx].long()))
    return out


def class_centers_at(feats: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                     num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`class_centers` of one image over the pixels of a label-resolution map (labels, mask (H, W))
    whose features are the bilinear interpolation of feats (D, h, w) at each pixel: the mean of
    `point_features` over each class's pixels, computed without materialising them (the bilinear
    weights of the class's pixels are summed per feature cell first; the mean is linear).
    Returns centres (C, D) (absent classes 0) and present (C,) bool. Differentiable in feats."""
    D, h, w = feats.shape
    H, W = labels.shape
    lab = labels.reshape(-1).long()
    keep = mask.reshape(-1).bool() & (lab >= 0) & (lab < num_classes)
    idx = torch.nonzero(keep).view(-1)
    y = lab[idx]
    cells, wts = bilinear_weights(idx // W, idx % W, (H, W), (h, w))
    splat = torch.zeros(num_classes * h * w, dtype=torch.float64, device=feats.device)
    splat.index_add_(0, (y.view(-1, 1) * (h * w) + cells.to(y.device)).view(-1), wts.to(splat.device).view(-1))
    splat = splat.view(num_classes, h * w).to(feats.dtype)
    counts = torch.bincount(y, minlength=num_classes)[:num_classes].to(feats.dtype)
    sums = splat @ feats.reshape(D, h * w).t()
    return sums / counts.clamp(min=1.0).view(-1, 1), counts > 0  # Sec. III.B.1 category centres


def sample_group(mask: torch.Tensor, counts, generator: torch.Generator | None = None) -> torch.Tensor:
    """A seeded uniform subsample of each image's True pixels: mask (B, H, W) bool, counts (B,)
    how many per image (min(count, available); None: all of them). Returns a (B, H, W) bool mask.
    Alg. 1 l.12: M_e/2 pixels sampled from G_l (adaptive sampling, Sec. III.B.2)."""
    B = mask.shape[0]
    flat = mask.reshape(B, -1).bool()
    out = torch.zeros_like(flat)
    for b in range(B):
        idx = torch.nonzero(flat[b]).view(-1)
        if counts is not None:
            n = max(int(counts[b]), 0)
            if idx.numel() > n:
                idx = idx[torch.randperm(idx.numel(), generator=generator)[:n].to(idx.device)]
        out[b, idx] = True
    return out.view_as(mask)


def soft_pseudo_label_loss(logits: torch.Tensor, chosen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 5 with soft targets: at the chosen pixels (chosen (B, H, W) bool, logits (B, C, H, W)),
    CE(p, y~) with y~ = softmax(p) detached (a pseudo-label: no gradient through the target),
    i.e. -sum_c y~_c log p_c, averaged over the chosen pixels (eq. 5 sums; the mean keeps
    `mcu.pseudo_weight` independent of the count). Returns (loss, targets (N, C)) in the order of
    `chosen.nonzero()`; a graph-connected 0 when no pixel is chosen."""
    z = logits.movedim(1, -1)[chosen]                 # (N, C)
    if z.shape[0] == 0:
        return logits.sum() * 0.0, z.detach()
    target = F.softmax(z.detach().float(), 1)         # eq. 5: y~ = softmax(p)
    loss = -(target * F.log_softmax(z.float(), 1)).sum(1).mean()
    return loss, target


def multi_level_contrastive_loss(src: dict, tgt: dict, temperature: float, *, W: torch.Tensor | None = None,
                                 levels=LEVELS, p2p: bool = True, c2c: bool = True):
    """Sum of the p2p and c2c losses over the enabled levels (L_con of Sec. III.D.3).

    src / tgt: {"anchors": [(feats (n, D), labels (n,))] per image (hard pixels: wrongly predicted
    labelled pixels; for the target, wrongly predicted actively labelled pixels), "keys": [(feats,
    labels)] per image (all sampled labelled / pseudo-labelled pixels), "centers": [(centres (C, D),
    present (C,))] per image (`class_centers` on the low-uncertainty pixels)}.
    Levels: "intra" anchors/centres of image i vs keys/centres of image i, both domains; "cross"
    image i vs image (i + 1) mod B of the same domain (skipped for a domain with B < 2, where it
    would repeat intra); "domain" source image i vs target image i mod B_t and target image j vs
    source image j mod B_s. W (C, C) is the DCCM (weights 1 + W, see `pair_weights`).
    Each component ("p2p_intra", "c2c_domain", ...) is the mean over the image pairs whose term
    has at least one qualifying anchor (0 when none); the total is their sum. Returns (total,
    {component: float}) with one key per enabled (kind, level)."""
    bad = set(levels) - set(LEVELS)
    if bad:
        raise ValueError(f"unknown contrastive levels {sorted(bad)}; expected a subset of {LEVELS}")
    tensors = [t for d in (src, tgt) for k in ("anchors", "keys", "centers") for pair in d.get(k, [])
               for t in pair[:1]]
    if not tensors:
        raise ValueError("no features given")
    total = sum(t.sum() * 0.0 for t in tensors)   # keeps a graph when every term is empty
    weights_fn = (lambda la, lk: pair_weights(W, la, lk)) if W is not None else (lambda la, lk: None)

    def p2p_term(a, k):
        return _infonce_terms(a[0], a[1], k[0], k[1], temperature, weights=weights_fn(a[1], k[1]))

    def c2c_term(a, b):
        return _c2c_terms(a[0], a[1], b[0], b[1], temperature, W=W)

    pairs = {"intra": [], "cross": [], "domain": []}   # (domain a, index i, domain b, index j)
    for d in (src, tgt):
        n = len(d["keys"])
        pairs["intra"] += [(d, i, d, i) for i in range(n)]
        if n >= 2:
            pairs["cross"] += [(d, i, d, (i + 1) % n) for i in range(n)]
    ns, nt = len(src["keys"]), len(tgt["keys"])
    if ns and nt:
        pairs["domain"] += [(src, i, tgt, i % nt) for i in range(ns)]
        pairs["domain"] += [(tgt, j, src, j % ns) for j in range(nt)]

    logs = {}
    kinds = [("p2p", p2p, "anchors", "keys", p2p_term), ("c2c", c2c, "centers", "centers", c2c_term)]
    for level in levels:
        for kind, on, ka, kb, fn in kinds:
            if not on:
                continue
            terms = [fn(da[ka][i], db[kb][j]) for da, i, db, j in pairs[level]]
            terms = [loss for loss, n in terms if n > 0]
            comp = torch.stack(terms).mean() if terms else None
            logs[f"{kind}_{level}"] = float(comp.detach()) if comp is not None else 0.0
            if comp is not None:
                total = total + comp
    return total, logs
