"""The second-stage objectives of MADAv2, RIPU and ADA-MCU: each `<name>_step(ctx, ...)` returns the
training step that train/finetune.py runs (one SGD step per call, batches a pure function of the
iteration, state in ctx.state so a killed run resumes). Every loss term has a weight or switch in
its config section, so each paper's ablation is a config variant.
"""
from __future__ import annotations

import copy

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from ..data.labels import IGNORE
from ..features import class_mean_features, target_class_map
from ..io import load_torch, read_ids
from ..models import upsample
from ..select.mcu import mcu_uncertainty
from .common import BatchStream, gather_rows, seg_ce
from .finetune import (FinetuneContext, ema_update_anchors, image_level_only, load_anchors, soft_alignment_loss,
                       unlabelled_target)
from .losses import (class_sampling_weights, copy_paste, cutmix, cutmix_donor_probability, local_consistency_loss,
                     negative_learning_loss, ohem_cross_entropy, pick_paste_classes, random_box)


def _batch_rng(seed: int, stream: int, it: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, it])


def madav2_step(ctx: FinetuneContext, target_anchors: str | None = None, pseudo_labels: str | None = None, **_):
    """MADAv2 eq. 15: L_seg (eq. 6) + w_cons * L_cons (eq. 13) + w_dis * L_dis (eq. 14).

    The teacher is the stage-1 model (frozen; `teacher_ema` > 0 makes it an EMA of the student). Its
    argmax labels the unlabelled batch, which ACM (eq. 9) mixes with a box of a donor image drawn
    by eq. 11 from the class confidences (eq. 10) of the stage-1 pseudo-labels; ACP (eq. 12)
    pastes the pixels of drawn (tail) classes of one active image onto the next. L_cons is OHEM
    (or plain CE with ohem off) on both. Ablation switches: consistency_weight, ohem, acm, acp,
    anchor_weight (MADAv2 Table 2, B..E)."""
    image_level_only(ctx, "MADAv2")
    m2, mada = ctx.cfg["madav2"], ctx.cfg["mada"]
    model, aux_w, tgt, rt = ctx.model, ctx.aux_w, ctx.target, ctx.rt
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
        with h5py.File(pseudo_labels, "r") as h5:
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
        ctx.poly(it)
        bs = ctx.local_bs
        (xs, ys), (xa, ya) = b["source"], b["active"]
        parts, labels = [xs, xa], [ys, ya]
        logs: dict = {}
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
                parts.append(torch.stack([p[0] for p in pasted]))
                labels.append(torch.stack([p[1] for p in pasted]))
            parts.append(xu)
            labels.append(yu)
        elif use_unl:  # the anchor loss alone: unlabelled images without labels
            xu, yu = b["unlabelled"]
            parts.append(xu)
            labels.append(torch.full_like(yu, IGNORE))
        o, y = ctx.forward(parts, labels)
        ce_s = seg_ce(o, y, aux_w, slice(0, bs))
        ce_a = seg_ce(o, y, aux_w, slice(bs, 2 * bs))
        loss = ce_s + ce_a                                                                    # eq. 6
        logs.update(ce_src=ce_s.item(), ce_active=ce_a.item())
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


def ripu_step(ctx: FinetuneContext, **_):
    """RIPU eq. 12: CE(source) + CE(active target pixels) (eq. 7) + alpha_1 * local consistency on
    the source predictions (eq. 9) + alpha_2 * negative learning on the target predictions (eq. 11).
    Ablation switches (RIPU Table 3 d, e): consistency_weight, negative_weight."""
    rc = ctx.cfg["ripu"]
    bs = ctx.local_bs
    a1, a2, tau = float(rc["consistency_weight"]), float(rc["negative_weight"]), float(rc["negative_tau"])

    def step(it: int, b: dict) -> dict:
        o, y, loss, logs = ctx.supervised_forward(it, b)                                     # eq. 7
        if a1 > 0 or a2 > 0:
            prob = F.softmax(upsample(o["logits"], y.shape[-2:]), 1)
            if a1 > 0:
                l_cr = local_consistency_loss(prob[:bs])                                     # eq. 9
                loss = loss + a1 * l_cr
                logs["consistency"] = l_cr.item()
            if a2 > 0:
                l_nl = negative_learning_loss(prob[bs:], tau)                                 # eq. 11
                loss = loss + a2 * l_nl
                logs["negative"] = l_nl.item()
        ctx.descend(loss)
        return logs
    return step


def _resize_labels(y: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(y[:, None].float(), size=tuple(size), mode="nearest")[:, 0].long()


def mcu_step(ctx: FinetuneContext, **_):
    """ADA-MCU L_total = L_seg (eq. 6) + w_con * L_con (Sec. III.D.3).

    L_seg: CE on source, CE on the actively labelled target pixels (G_h, G_m: eq. 4) and CE on the
    pseudo-labels (argmax) of the target's low-uncertainty group G_l (eq. 5: pixels whose eq. 1
    score is below the image's `low_quantile` quantile). L_con: p2p and c2c InfoNCE at the intra-
    image, cross-image and cross-domain levels (eqs. 9-11) on stride-4 decoder features; anchors
    are the wrongly predicted labelled pixels (source) and wrongly predicted active pixels
    (target), keys a sample of all labelled / pseudo-labelled pixels, centres the means of the
    low-uncertainty pixels; pair weights from the DCCM (eqs. 7-8), updated every step from the
    labelled pixels. Ablation switches (ADA-MCU Table 6): levels, p2p, c2c, dccm."""
    from .mcu_contrast import class_centers, error_rates, multi_level_contrastive_loss, sample_pixels, update_dccm

    mc = ctx.cfg["mcu"]
    model, bs, device, ncls = ctx.model, ctx.local_bs, ctx.device, ctx.ncls
    gamma, q_low = float(mc["gamma"]), float(mc["low_quantile"])
    w_pseudo, w_con, temp = float(mc["pseudo_weight"]), float(mc["contrast_weight"]), float(mc["temperature"])
    levels, use_dccm, beta = tuple(mc["levels"]), bool(mc["dccm"]), float(mc["dccm_beta"])
    n_keys, n_anchors = int(mc["keys_per_image"]), int(mc["anchors_per_image"])
    if model.aux is None:
        raise ValueError("ADA-MCU needs the auxiliary head (model.aux_head: true) for its KL(main || aux) score")
    W = torch.zeros(ncls, ncls, device=device)
    init_state = load_torch(ctx.init)
    if "dccm" in init_state:  # round r continues the DCCM of round r-1
        W.copy_(init_state["dccm"].to(device))
    ctx.state["dccm"] = W

    def domain_units(feats, labels, low, hard, gen):
        keys = sample_pixels(feats, labels, labels != IGNORE, n_keys, gen)
        anchors = sample_pixels(feats, labels, hard, n_anchors, gen)
        f = feats.movedim(1, -1)
        centers = [class_centers(f[b].reshape(-1, f.shape[-1]), labels[b].reshape(-1), low[b].reshape(-1), ncls)
                   for b in range(len(feats))]
        return {"anchors": anchors, "keys": keys, "centers": centers}

    def step(it: int, b: dict) -> dict:
        o, y, loss, logs = ctx.supervised_forward(it, b, with_aux=True)                      # eq. 4
        with torch.no_grad():
            size = o["features"].shape[-2:]
            prob = F.softmax(o["logits"], 1)
            u = mcu_uncertainty(prob, F.softmax(upsample(o["aux"], size), 1), gamma, axis=1)    # eq. 1
            thr = torch.quantile(u.flatten(1), q_low, dim=1).view(-1, 1, 1)
            low = u <= thr                                                                   # G_l (and source low group)
            pred = prob.argmax(1)
            yf = _resize_labels(y, size)
            t_lab = yf[bs:]
            pseudo = torch.where(low[bs:] & (t_lab == IGNORE), pred[bs:], torch.full_like(t_lab, IGNORE))
        if w_pseudo > 0 and (pseudo != IGNORE).any():
            ce_p = F.cross_entropy(o["logits"][bs:], pseudo, ignore_index=IGNORE)            # eq. 5
            loss = loss + w_pseudo * ce_p
            logs["ce_pseudo"] = ce_p.item()
        if w_con > 0:
            gen = torch.Generator().manual_seed(int(np.random.default_rng([ctx.seed, 15, it]).integers(2 ** 62)))
            feats = o["features"]
            t_all = torch.where(t_lab != IGNORE, t_lab, pseudo)
            src_units = domain_units(feats[:bs], yf[:bs], low[:bs] & (yf[:bs] != IGNORE),
                                     (pred[:bs] != yf[:bs]) & (yf[:bs] != IGNORE), gen)
            tgt_units = domain_units(feats[bs:], t_all, low[bs:] & (t_all != IGNORE),
                                     (pred[bs:] != t_lab) & (t_lab != IGNORE), gen)
            l_con, parts = multi_level_contrastive_loss(src_units, tgt_units, temp, W if use_dccm else None,
                                                        levels=levels, p2p=bool(mc["p2p"]), c2c=bool(mc["c2c"]))
            loss = loss + w_con * l_con
            logs["contrast"] = float(l_con.detach())
        ctx.descend(loss)
        if use_dccm:
            with torch.no_grad():
                lab = gather_rows(torch.cat([yf[:bs], t_lab]))                 # the global batch's pixels
                pred_all = gather_rows(pred)
                present = torch.bincount(lab[lab != IGNORE], minlength=ncls)[:ncls] > 0
                W.copy_(update_dccm(W, error_rates(pred_all, lab, ncls), beta, present))      # eqs. 7-8
        return logs
    return step
