"""RIPU's fine-tuning objective (Xie et al., CVPR'22, Sec. 3.4), as a step builder for
train/finetune.py; its loss terms are in train/losses.py."""
from __future__ import annotations

import torch.nn.functional as F

from ..models import upsample
from .finetune import FinetuneContext
from .losses import local_consistency_loss, negative_learning_loss


def ripu_step(ctx: FinetuneContext, *, target_anchors: str | None = None, pseudo_labels: str | None = None):
    """RIPU eq. 12: CE(source) + CE(active target pixels) (eq. 7) + alpha_1 * local consistency on
    the source predictions (eq. 9) + alpha_2 * negative learning on the target predictions (eq. 11).
    Ablation switches (RIPU Table 3 d, e): consistency_weight, negative_weight."""
    rc = ctx.cfg["ripu"]
    bs = ctx.local_bs
    a1, a2, tau = float(rc["consistency_weight"]), float(rc["negative_weight"]), float(rc["negative_tau"])
    boundary = rc.get("consistency_pixels", "boundary") == "boundary"   # official: source class boundaries only

    def step(it: int, b: dict) -> dict:
        o, y, loss, logs = ctx.supervised_forward(it, b)                                     # eq. 7
        if a1 > 0 or a2 > 0:
            prob = F.softmax(upsample(o["logits"], y.shape[-2:]), 1)
            if a1 > 0:
                l_cr = local_consistency_loss(prob[:bs], y[:bs] if boundary else None)      # eq. 9
                loss = loss + a1 * l_cr
                logs["consistency"] = l_cr.item()
            if a2 > 0:
                l_nl = negative_learning_loss(prob[bs:], tau)                                 # eq. 11
                loss = loss + a2 * l_nl
                logs["negative"] = l_nl.item()
        ctx.descend(loss)
        return logs
    return step
