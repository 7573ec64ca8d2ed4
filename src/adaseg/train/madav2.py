"""MADAv2's fine-tuning objective (Ning et al., TPAMI, Sec. 3.3 step 3), as a step builder for
train/finetune.py: teacher consistency with OHEM, adaptive cutmix (ACM) and adaptive copy-paste
(ACP) plus MADA's soft anchor alignment. Its tensor-level losses and augmentations are in
train/losses.py, the anchor loss and EMA in train/mada.py."""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from ..data.labels import IGNORE
from ..data.loader import BatchStream
from ..features import class_mean_features, target_class_map
from ..io import open_h5, read_ids
from ..models import upsample
from .common import gather_rows
from .finetune import FinetuneContext, image_level_only, load_anchors, unlabelled_target
from .losses import (class_sampling_weights, copy_paste, cutmix, cutmix_donor_probability, ohem_cross_entropy,
                     pick_paste_classes, random_box)
from .mada import ema_update_anchors, soft_alignment_loss


def _batch_rng(seed: int, stream: int, it: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, it])


def madav2_step(ctx: FinetuneContext, *, target_anchors: str | None = None, pseudo_labels: str | None = None):
    """MADAv2 eq. 15: L_seg (eq. 6) + w_cons * L_cons (eq. 13) + w_dis * L_dis (eq. 14).

    The teacher is the stage-1 model (frozen; `teacher_ema` > 0 makes it an EMA of the student). Its
    argmax labels the unlabelled batch, which ACM (eq. 9) mixes with a box of a donor image drawn
    by eq. 11 from the class confidences (eq. 10) of the stage-1 pseudo-labels; ACP (eq. 12)
    pastes the pixels of drawn (tail) classes of one active image onto the next. L_cons is OHEM
    (or plain CE with ohem off) on both. Ablation switches: consistency_weight, ohem, acm, acp,
    anchor_weight (MADAv2 Table 2, B..E)."""
    image_level_only(ctx, "MADAv2")
    m2, mada = ctx.cfg["madav2"], ctx.cfg["mada"]
    model, tgt, rt = ctx.model, ctx.target, ctx.rt
    w_cons, w_dis = float(m2["consistency_weight"]), float(m2["anchor_weight"])
    use_ohem, use_acm, use_acp = bool(m2["ohem"]), bool(m2["acm"]), bool(m2["acp"])
    teacher_ema, area = float(m2["teacher_ema"]), float(m2["cutmix_area"])
    anchors = load_anchors(ctx, target_anchors) if w_dis > 0 else None
    min_px = int(ctx.cfg["features"]["min_pixels"])
    unlabelled = unlabelled_target(ctx)
    class_w = np.zeros(ctx.ncls)
    if w_cons > 0 and (use_acm or use_acp):
        if not pseudo_labels:
            raise ValueError("MADAv2 ACM/ACP need --pseudo-labels (class confidences of the stage-1 model, eq. 10)")
        with open_h5(pseudo_labels, "pseudo-label file", need=("ids", "log_conf_count", "log_conf_sum", "classes")) as h5:
            row = {s: r for r, s in enumerate(read_ids(h5))}
            count = h5["log_conf_count"][:]
            conf = h5["log_conf_sum"][:] / np.maximum(count, 1)
            classes = h5["classes"][:]
        class_w = class_sampling_weights(conf, count > 0)                                   # eq. 11
        r = cutmix_donor_probability(classes[[row[tgt.ids[i]] for i in unlabelled]], class_w)  # eq. 11
        donors = np.random.default_rng([ctx.seed, 13]).choice(unlabelled, size=len(unlabelled), p=r)
        if use_acm:
            ctx.streams["donor"] = BatchStream(tgt, donors, ctx.bs, ctx.seed, 13, **ctx.aug)
    use_unl = w_cons > 0 or w_dis > 0
    if use_unl:
        ctx.streams["unlabelled"] = BatchStream(tgt, unlabelled, ctx.bs, ctx.seed, 12, **ctx.aug)
    teacher = None
    if w_cons > 0:
        teacher = copy.deepcopy(model).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        if teacher_ema > 0:  # an EMA teacher changes, so checkpoints carry it; a frozen one is the init
            ctx.state["teacher"] = teacher

    def cons_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = upsample(logits, y.shape[-2:])
        if use_ohem:  # min_kept scaled from the paper's 100,000 pixels of an 896x512 crop
            keep = round(float(m2["ohem_keep_fraction"]) * y.numel())
            return ohem_cross_entropy(logits, y, float(m2["ohem_thresh"]), keep)
        return F.cross_entropy(logits, y, ignore_index=IGNORE)

    def step(it: int, b: dict) -> dict:
        bs = ctx.local_bs
        xa, ya = b["active"]
        extra = []  # batches after source and active: [ACP-pasted active,] unlabelled
        if w_cons > 0:
            rng = _batch_rng(ctx.seed, 14, it)
            xu = b["unlabelled"][0]
            with torch.no_grad():
                yu = teacher(rt.inputs(xu))["logits"]
                yu = upsample(yu, xu.shape[-2:]).argmax(1).cpu()
                if use_acm:
                    xd = b["donor"][0]
                    yd = upsample(teacher(rt.inputs(xd))["logits"], xd.shape[-2:]).argmax(1).cpu()
                    mixed = [cutmix(xu[j], yu[j], xd[j], yd[j], random_box(*xu.shape[-2:], area, rng))
                             for j in range(len(xu))]                                    # eq. 9
                    xu, yu = torch.stack([m[0] for m in mixed]), torch.stack([m[1] for m in mixed])
            if use_acp:
                pasted = [copy_paste(xa[j], ya[j], xa[(j + 1) % len(xa)], ya[(j + 1) % len(xa)],
                                     pick_paste_classes(ya[(j + 1) % len(xa)], class_w, int(m2["acp_classes"]), rng))
                          for j in range(len(xa))]                                           # eq. 12
                extra.append((torch.stack([p[0] for p in pasted]), torch.stack([p[1] for p in pasted])))
            extra.append((xu, yu))
        elif use_unl:  # the anchor loss alone: unlabelled images without labels
            xu, yu = b["unlabelled"]
            extra.append((xu, torch.full_like(yu, IGNORE)))
        o, y, loss, logs = ctx.supervised_forward(it, b, extra=extra)                        # eq. 6
        vec = None
        unl_part = slice(len(y) - bs, len(y))
        if w_cons > 0:
            lab_part = slice(2 * bs, 3 * bs) if use_acp else slice(bs, 2 * bs)
            l_cons = cons_loss(o["logits"][lab_part], y[lab_part]) + cons_loss(o["logits"][unl_part], y[unl_part])
            loss = loss + w_cons * l_cons                                                     # eq. 13
            logs["cons"] = l_cons.item()
        if anchors is not None:
            cmap = target_class_map(o["logits"][unl_part].detach())
            m, _ = class_mean_features(o["features"][unl_part], cmap, ctx.ncls, min_px)
            vec = m.flatten(1)
            l_dis = soft_alignment_loss(vec, anchors).mean()                                  # eq. 14
            loss = loss + w_dis * l_dis
            logs["anchor"] = l_dis.item()
        ctx.descend(loss)
        if vec is not None and mada["ema"]:
            ema_update_anchors(anchors, gather_rows(vec.detach()), float(mada["ema_alpha"]))  # eq. 8
        if teacher is not None and teacher_ema > 0:
            with torch.no_grad():
                for pt, ps in zip(teacher.parameters(), model.parameters()):
                    pt.mul_(teacher_ema).add_(ps.detach(), alpha=1 - teacher_ema)
        return logs
    return step
