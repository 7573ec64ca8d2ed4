"""MADA's fine-tuning objectives (Ning et al., ICCV'21, Sec. 3.3), as step builders for
train/finetune.py, and its anchor losses (MADAv2 reuses both).

Stage 1: CE on source + CE on the actively labelled target images (eq. 6).
Stage 2: stage 1 + CE on pseudo-labels of the unlabelled target images (eq. 10) + the multi-anchor
soft-alignment loss (eq. 9) against target anchors that follow an EMA (eq. 8).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.labels import IGNORE
from ..data.loader import BatchStream
from ..features import class_mean_features, target_class_map
from ..models import upsample
from .common import gather_rows
from .finetune import FinetuneContext, StoredLabels, image_level_only, load_anchors, unlabelled_target


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
    anchors (eq. 9), which follow an EMA of those features (eq. 8) when `mada.ema` is on."""
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
    min_px = int(ctx.cfg["features"]["min_pixels"])

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
            cmap = target_class_map(o["logits"][2 * bs:].detach())
            m, _ = class_mean_features(o["features"][2 * bs:], cmap, ctx.ncls, min_px)
            vec = m.flatten(1)
        if w_anchor > 0:
            l_dis = soft_alignment_loss(vec, anchors).mean()                                  # eq. 9
            loss = loss + w_anchor * l_dis
            logs["anchor"] = l_dis.item()
        ctx.descend(loss)
        if use_ema:
            ema_update_anchors(anchors, gather_rows(vec.detach()), alpha)                     # eq. 8
        return logs
    return step
