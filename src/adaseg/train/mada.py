"""MADA's fine-tuning objectives (Ning et al., ICCV'21, Sec. 3.3), as step builders for
train/finetune.py, and its anchor losses (MADAv2 reuses both).

Stage 1: CE on source + CE on the actively labelled target images (eq. 6).
Stage 2: stage 1 + CE on pseudo-labels of the unlabelled target images (eq. 10) + the multi-anchor
soft-alignment loss (eq. 9) against target anchors that follow an EMA (eq. 8).

`mada.anchor_loss` picks how the anchor loss sees a batch. batch_scaled (default) is what the
official code runs (munanning/MADA models/adaptation_model.py:137-158, 212-225, 254-270; MADAv2
models/adaptation_model_AEL.py:212-233, 373-388): the class means of every image of the batch are
written into ONE (C, D) vector, class by class, a later image overwriting an earlier one
(`target_objective_vectors[target_ids[t]] = ...`), the loss is eq. 9 of that one vector, the
gradient reaching the features of class c in image n is scaled by 2 n_c / (h w) (h x w the
feature map; `normalisation_pooling`, munanning/MADA models/utils.py:15-41), and the nearest anchor
takes one EMA step per batch. per_image: eq. 9 per image, averaged, plain gradients, one EMA step
per image (what adaseg ran before).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.labels import IGNORE
from ..data.loader import BatchStream
from ..features import class_mean_features, target_class_map, effective_min_pixels
from ..models import upsample
from .common import gather_rows
from .finetune import FinetuneContext, StoredLabels, image_level_only, load_anchors, unlabelled_target


ANCHOR_LOSS_MODES = ("batch_scaled", "per_image")


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by `factor` (broadcast to the input).
    The official `NormalisationPoolingFunction` (munanning/MADA models/utils.py:15-33)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(factor)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (factor,) = ctx.saved_tensors
        return grad * factor, None


def scale_gradient(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """x in the forward pass; grad x factor in the backward pass."""
    return _ScaleGradient.apply(x, factor.detach().to(x.dtype))


def merged_class_vector(features: torch.Tensor, class_map: torch.Tensor, num_classes: int,
                        min_pixels: int = 10, scaled: bool = True) -> torch.Tensor:
    """The official anchor-loss input: ONE (C x D,) vector for a (B, D, h, w) batch. Row c is the
    class-c mean feature of the LAST image of the batch with >= min_pixels (at least 1) pixels of c
    (zero if none): the official loop writes image after image into one (19, 256) tensor
    (munanning/MADA models/adaptation_model.py:146-158, 216-218). scaled: the gradient of image n's
    row c is multiplied by 2 n_c / (h w), n_c its pixel count (munanning/MADA
    models/adaptation_model.py:153-155 with models/utils.py:15-41): the pixels of a class then get
    2 / (h w) of the row's gradient each instead of 1 / n_c."""
    m, counts = class_mean_features(features, class_map, num_classes, min_pixels)   # (B, C, D), (B, C)
    if scaled:
        h, w = features.shape[-2:]
        m = scale_gradient(m, (2.0 * counts / (h * w))[..., None])
    keep = counts >= max(int(min_pixels), 1)
    out = torch.zeros_like(m[0])
    for n in range(m.shape[0]):
        out = torch.where(keep[n][:, None], m[n], out)
    return out.flatten()


def anchor_vectors(features: torch.Tensor, logits: torch.Tensor, num_classes: int, min_pixels: int,
                   mode: str) -> torch.Tensor:
    """The rows the anchor loss (eq. 9) and the EMA (eq. 8) see for a batch of unlabelled target
    images, classes from the prediction (eq. 4): (1, C x D) for mode 'batch_scaled' (see
    merged_class_vector), (B, C x D) per image for 'per_image'."""
    if mode not in ANCHOR_LOSS_MODES:
        raise ValueError(f"mada.anchor_loss must be one of {ANCHOR_LOSS_MODES}, not {mode!r}")
    cmap = target_class_map(logits.detach())
    if mode == "batch_scaled":
        return merged_class_vector(features, cmap, num_classes, min_pixels, scaled=True)[None]
    m, _ = class_mean_features(features, cmap, num_classes, min_pixels)
    return m.flatten(1)


def soft_alignment_loss(vectors: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """MADA eq. 9 per image: V / sum_v 1 / d(F, A_v), d = mean squared difference; (B,) values."""
    d = ((vectors[:, None, :] - anchors[None, :, :]) ** 2).mean(-1).clamp_min(1e-8)  # (B, V)
    return anchors.shape[0] / (1.0 / d).sum(1)


@torch.no_grad()
def ema_update_anchors(anchors: torch.Tensor, vectors: torch.Tensor, alpha: float) -> None:
    """MADA eq. 8: the anchor nearest to each vector moves to alpha*A + (1-alpha)*F (in place)."""
    for v in vectors:
        k = int(((anchors - v[None]) ** 2).mean(1).argmin())
        anchors[k] = alpha * anchors[k] + (1 - alpha) * v


def stage1_step(ctx: FinetuneContext, *, target_anchors: str | None = None, pseudo_labels: str | None = None):
    """MADA stage 1 (eq. 6): CE(source) + CE(active)."""
    def step(it: int, b: dict) -> dict:
        _, _, loss, logs = ctx.supervised_forward(it, b)                                     # eq. 6
        ctx.descend(loss)
        return logs
    return step


def stage2_step(ctx: FinetuneContext, *, target_anchors: str | None = None, pseudo_labels: str | None = None):
    """MADA stage 2: eq. 6 + pseudo_weight * CE(pseudo-labels of the unlabelled target images,
    eq. 10) + anchor_weight * the soft alignment of their class-mean features to the target
    anchors (eq. 9), which follow an EMA of those features (eq. 8) when `mada.ema` is on; the
    loss and the EMA see the batch as `mada.anchor_loss` says (see the module docstring)."""
    image_level_only(ctx, "MADA stage 2")
    if not pseudo_labels:
        raise ValueError("stage2 needs --target-anchors and --pseudo-labels")
    tgt = ctx.target
    mcfg = ctx.cfg["mada"]
    anchors = load_anchors(ctx, target_anchors)
    unlabelled = unlabelled_target(ctx)
    pseudo = ctx.rows(pseudo_labels, "labels", [tgt.ids[i] for i in unlabelled])
    ctx.streams["unlabelled"] = BatchStream(tgt, unlabelled, ctx.bs, ctx.seed, 12, label_fn=StoredLabels(tgt, pseudo),
                                            **ctx.aug)
    w_anchor, w_pseudo = float(mcfg["anchor_weight"]), float(mcfg["pseudo_weight"])
    alpha, use_ema = float(mcfg["ema_alpha"]), bool(mcfg["ema"])
    mode = str(mcfg.get("anchor_loss", "batch_scaled"))

    def step(it: int, b: dict) -> dict:
        o, y, loss, logs = ctx.supervised_forward(it, b, extra=[b["unlabelled"]])           # eq. 6
        bs = ctx.local_bs
        if w_pseudo > 0:
            p = upsample(o["logits"], y.shape[-2:])
            ce_p = F.cross_entropy(p[2 * bs:], y[2 * bs:], ignore_index=IGNORE)              # eq. 10
            loss = loss + w_pseudo * ce_p
            logs["ce_pseudo"] = ce_p.item()
        vec = None
        if w_anchor > 0 or use_ema:
            min_px = effective_min_pixels(ctx.cfg, o["features"].shape[-2:])   # features.min_pixels at this map
            vec = anchor_vectors(o["features"][2 * bs:], o["logits"][2 * bs:], ctx.ncls, min_px, mode)
        if w_anchor > 0:
            l_dis = soft_alignment_loss(vec, anchors).mean()                                  # eq. 9
            loss = loss + w_anchor * l_dis
            logs["anchor"] = l_dis.item()
        ctx.descend(loss)
        if use_ema:
            ema_update_anchors(anchors, gather_rows(vec.detach()), alpha)                     # eq. 8
        return logs
    return step
