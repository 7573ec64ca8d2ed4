"""ADA-MCU's fine-tuning objective (Sec. III.D), as a step builder for train/finetune.py: CE on the
labelled pixels and on low-uncertainty pseudo-labels plus the multi-level contrastive units with
DCCM pair weights, whose losses are in train/mcu_contrast.py."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data.labels import IGNORE
from ..io import load_torch
from ..models import upsample
from ..select.mcu import mcu_uncertainty
from .common import gather_rows
from .finetune import FinetuneContext
from .mcu_contrast import (class_centers, class_centers_at, error_rates, multi_level_contrastive_loss, sample_group,
                           sample_pixels, sample_points, soft_pseudo_label_loss, update_dccm)

PSEUDO_LABELS = ("sampled_soft", "all_hard")
LABEL_RESOLUTIONS = ("full", "stride4")


def _resize_labels(y: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(y[:, None].float(), size=tuple(size), mode="nearest")[:, 0].long()


def pseudo_label_pixels(low: torch.Tensor, labels: torch.Tensor, mode: str, adaptive: bool,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """The target pixels that get a pseudo-label (B, H, W) bool: G_l = low-uncertainty pixels that
    are not labelled (labels == IGNORE). `sampled_soft` with adaptive sampling (Alg. 1 l.12,
    Sec. III.B.2): per image a uniform M_e/2 of them, M_e/2 = half the image's labelled pixels
    (the same number per group as the G_h half of its labels); without adaptive sampling (Table VI,
    "AL w/o AS") and for `all_hard`: every pixel of G_l."""
    cand = low & (labels == IGNORE)
    if mode == "sampled_soft" and adaptive:
        counts = (labels != IGNORE).flatten(1).sum(1) // 2
        return sample_group(cand, counts.tolist(), generator)
    return cand


def mcu_step(ctx: FinetuneContext, *, target_anchors: str | None = None, pseudo_labels: str | None = None):
    """ADA-MCU L_total = L_seg (eq. 6) + w_con * L_con (Sec. III.D.3).

    L_seg: CE on source, CE on the actively labelled target pixels (G_h, G_m: eq. 4) and the
    pseudo-label CE on the target's low-uncertainty group G_l (eq. 5: unlabelled pixels whose eq. 1
    score is at most the image's `low_quantile` quantile). `mcu.pseudo_labels`: `sampled_soft`
    (paper, Alg. 1 l.12, eq. 5): M_e/2 sampled pixels of G_l per image (half its labelled pixels;
    all of G_l without adaptive sampling, Table VI "AL w/o AS"), soft targets softmax(p);
    `all_hard`: every pixel of G_l, hard argmax targets. L_con: p2p and c2c InfoNCE at the intra-
    image, cross-image and cross-domain levels (eqs. 9-11) on stride-4 decoder features; anchors
    are the wrongly predicted labelled pixels (source) and wrongly predicted active pixels
    (target), keys a sample of all labelled / pseudo-labelled pixels (the pseudo-labelled ones of
    eq. 5, with the class of their target), centres the means of the low-uncertainty pixels; pair
    weights from the DCCM (eqs. 7-8), updated every step from the labelled pixels.
    `mcu.label_resolution`: `full`: groups, predictions, labels and the DCCM at the label
    resolution, features of the pixels read by bilinear interpolation of the stride-4 map at their
    positions; `stride4`: everything at the feature resolution, labels nearest-downsampled.
    Ablation switches (ADA-MCU Table VI): levels, p2p, c2c, dccm, adaptive_sampling."""
    mc = ctx.cfg["mcu"]
    model, bs, device, ncls = ctx.model, ctx.local_bs, ctx.device, ctx.ncls
    gamma, q_low = float(mc["gamma"]), float(mc["low_quantile"])
    w_pseudo, w_con, temp = float(mc["pseudo_weight"]), float(mc["contrast_weight"]), float(mc["temperature"])
    levels, use_dccm, beta = tuple(mc["levels"]), bool(mc["dccm"]), float(mc["dccm_beta"])
    n_keys, n_anchors = int(mc["keys_per_image"]), int(mc["anchors_per_image"])
    adaptive = bool(mc.get("adaptive_sampling", True))
    pl_mode, res_mode = str(mc.get("pseudo_labels", "sampled_soft")), str(mc.get("label_resolution", "full"))
    if pl_mode not in PSEUDO_LABELS:
        raise ValueError(f"mcu.pseudo_labels must be one of {PSEUDO_LABELS}, not {pl_mode!r}")
    if res_mode not in LABEL_RESOLUTIONS:
        raise ValueError(f"mcu.label_resolution must be one of {LABEL_RESOLUTIONS}, not {res_mode!r}")
    full = res_mode == "full"
    if model.aux is None:
        raise ValueError("ADA-MCU needs the auxiliary head (model.aux_head: true) for its KL(main || aux) score")
    W = torch.zeros(ncls, ncls, device=device)
    init_state = load_torch(ctx.init)
    if "dccm" in init_state:  # round r continues the DCCM of round r-1
        W.copy_(init_state["dccm"].to(device))
    ctx.state["dccm"] = W

    def domain_units(feats, labels, low, hard, gen):
        if full:   # labels at their resolution, features by bilinear interpolation at the pixels
            keys = sample_points(feats, labels, labels != IGNORE, n_keys, gen)
            anchors = sample_points(feats, labels, hard, n_anchors, gen)
            centers = [class_centers_at(feats[b], labels[b], low[b], ncls) for b in range(len(feats))]
            return {"anchors": anchors, "keys": keys, "centers": centers}
        keys = sample_pixels(feats, labels, labels != IGNORE, n_keys, gen)
        anchors = sample_pixels(feats, labels, hard, n_anchors, gen)
        f = feats.movedim(1, -1)
        centers = [class_centers(f[b].reshape(-1, f.shape[-1]), labels[b].reshape(-1), low[b].reshape(-1), ncls)
                   for b in range(len(feats))]
        return {"anchors": anchors, "keys": keys, "centers": centers}

    def step(it: int, b: dict) -> dict:
        o, y, loss, logs = ctx.supervised_forward(it, b, with_aux=True)                      # eq. 4
        gen = torch.Generator().manual_seed(int(np.random.default_rng([ctx.seed, 15, it]).integers(2 ** 62)))
        size = y.shape[-2:] if full else o["features"].shape[-2:]
        with torch.no_grad():
            logits = upsample(o["logits"], size) if full else o["logits"]
            prob = F.softmax(logits, 1)
            u = mcu_uncertainty(prob, F.softmax(upsample(o["aux"], size), 1), gamma, axis=1)    # eq. 1
            thr = torch.quantile(u.flatten(1), q_low, dim=1).view(-1, 1, 1)
            low = u <= thr                                                                   # G_l (and source low group)
            pred = prob.argmax(1)
            yf = y if full else _resize_labels(y, size)
            t_lab = yf[bs:]
            chosen = pseudo_label_pixels(low[bs:], t_lab, pl_mode, adaptive, gen)
            pseudo = torch.where(chosen, pred[bs:], torch.full_like(t_lab, IGNORE))
        if w_pseudo > 0 and bool(chosen.any()):
            logits_t = upsample(o["logits"][bs:], size) if full else o["logits"][bs:]
            if pl_mode == "sampled_soft":
                ce_p = soft_pseudo_label_loss(logits_t, chosen)[0]                           # eq. 5, y~ = softmax(p)
            else:
                ce_p = F.cross_entropy(logits_t, pseudo, ignore_index=IGNORE)                # argmax targets
            loss = loss + w_pseudo * ce_p
            logs["ce_pseudo"] = ce_p.item()
        if w_con > 0:
            feats = o["features"]
            t_all = torch.where(t_lab != IGNORE, t_lab, pseudo)
            src_units = domain_units(feats[:bs], yf[:bs], low[:bs] & (yf[:bs] != IGNORE),
                                     (pred[:bs] != yf[:bs]) & (yf[:bs] != IGNORE), gen)
            tgt_units = domain_units(feats[bs:], t_all, low[bs:] & (t_all != IGNORE),
                                     (pred[bs:] != t_lab) & (t_lab != IGNORE), gen)
            l_con, parts = multi_level_contrastive_loss(src_units, tgt_units, temp, W=W if use_dccm else None,
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
