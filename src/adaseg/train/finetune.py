"""MADA fine-tuning (Ning et al., ICCV'21, Sec. 3.3).

Stage 1: CE on source + CE on the actively labelled target images (eq. 6).
Stage 2: stage 1 + CE on pseudo-labels of the unlabelled target images (eq. 10) + the multi-anchor
soft-alignment loss (eq. 9) against target anchors that follow an EMA (eq. 8).
Both start from a given checkpoint and use its final weights: nothing looks at the evaluation split.
"""
from __future__ import annotations

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from ..data.datasets import open_dataset
from ..data.labels import IGNORE
from ..features import class_mean_features, iterate_images, target_class_map
from ..io import atomic_path, read_ids, write_ids
from ..models import upsample
from ..select.selection_list import read_selection, selected_ids
from .common import (BatchStream, Checkpointer, checkpoint_meta, load_model, make_sgd, seg_ce, set_poly,
                     setup_runtime, train_loop)


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


def _indices(ds, ids: list[str]) -> list[int]:
    pos = {s: i for i, s in enumerate(ds.ids)}
    missing = [s for s in ids if s not in pos]
    if missing:
        raise ValueError(f"selection lists ids not in {ds.kind} '{ds.root}': {missing[:5]}")
    return [pos[s] for s in ids]


def finetune(cfg: dict, stage: str, init: str, selection: str, source: str, target: str, out: str,
             threads: int | None = None, target_anchors: str | None = None, pseudo_labels: str | None = None) -> None:
    """stage: 'stage1' (eq. 6) or 'stage2' (eq. 11); stage 2 needs target_anchors and pseudo_labels."""
    device = setup_runtime(threads, cfg.get("device", "auto"))
    fcfg, tcfg, mcfg = cfg["finetune"], cfg["train"], cfg["mada"]
    seed = int(cfg["seed"])
    model, meta = load_model(init, device)
    model.train()
    space, ncls = meta["label_space"], meta["num_classes"]
    src = open_dataset(cfg, source, "train", space)
    tgt = open_dataset(cfg, target, "train", space)
    sel = read_selection(selection)
    active = _indices(tgt, selected_ids(sel))
    masks = None
    if sel.get("mask_file"):  # region / pixel selection: only the masked pixels carry their labels
        from ..select.region_run import read_masks

        mask_ids, mask_set, _mask_h5 = read_masks(sel["mask_file"])
        masks = (mask_set, {s: r for r, s in enumerate(mask_ids)})

    def active_label(i: int):
        lab = tgt.label(i)
        if masks is not None:
            lab = lab.copy()
            lab[masks[0][masks[1][tgt.ids[i]]] == 0] = IGNORE
        return lab

    scfg = fcfg[stage]
    iters = int(scfg["iterations"])
    opt = make_sgd(model, scfg["lr"], tcfg["head_lr_mult"], tcfg["momentum"], tcfg["weight_decay"])
    aug = dict(crop=tcfg.get("crop"), scale_range=tcfg["scale_range"], flip=True)
    bs = int(fcfg["batch_size"])
    src_stream = BatchStream(src, range(len(src)), bs, seed, 10, **aug)
    act_stream = BatchStream(tgt, active, bs, seed, 11, label_fn=active_label, **aug)
    state: dict = {"model": model, "optimizer": opt}
    power = tcfg["poly_power"]
    aux_w = float(tcfg["aux_weight"])

    if stage == "stage1":
        def step(it: int) -> dict:
            set_poly(opt, it, iters, power)
            xs, ys = src_stream.batch(it)
            xa, ya = act_stream.batch(it)
            x, y = torch.cat([xs, xa]).to(device), torch.cat([ys, ya]).to(device)
            o = model(x, with_aux=aux_w > 0)
            ce_s = seg_ce(o, y, aux_w, slice(0, bs))
            ce_a = seg_ce(o, y, aux_w, slice(bs, None))
            opt.zero_grad(set_to_none=True)
            (ce_s + ce_a).backward()
            opt.step()
            return {"ce_src": ce_s.item(), "ce_active": ce_a.item()}
    elif stage == "stage2":
        if sel.get("mask_file"):
            raise ValueError("MADA stage 2 takes image-level selections; this one labels regions/pixels")
        if not (target_anchors and pseudo_labels):
            raise ValueError("stage2 needs --target-anchors and --pseudo-labels")
        anchors = torch.from_numpy(np.load(target_anchors)["anchors"]).to(device)
        state["anchors"] = anchors
        h5 = h5py.File(pseudo_labels, "r")
        plab_ids = read_ids(h5)
        plab_row = {s: r for r, s in enumerate(plab_ids)}
        active_set = set(active)
        unlabeled = [i for i in range(len(tgt)) if i not in active_set]
        if not unlabeled:
            raise ValueError("stage 2 needs unlabelled target images, but the selection labels all of them")
        pseudo = lambda i: h5["labels"][plab_row[tgt.ids[i]]]  # noqa: E731
        unl_stream = BatchStream(tgt, unlabeled, bs, seed, 12, label_fn=pseudo, **aug)
        w_anchor, w_pseudo = float(mcfg["anchor_weight"]), float(mcfg["pseudo_weight"])
        alpha, use_ema = float(mcfg["ema_alpha"]), bool(mcfg["ema"])
        min_px = int(cfg["features"]["min_pixels"])

        def step(it: int) -> dict:
            set_poly(opt, it, iters, power)
            xs, ys = src_stream.batch(it)
            xa, ya = act_stream.batch(it)
            xu, yu = unl_stream.batch(it)
            x, y = torch.cat([xs, xa, xu]).to(device), torch.cat([ys, ya, yu]).to(device)
            o = model(x, with_aux=aux_w > 0)
            p = upsample(o["logits"], y.shape[-2:])
            ce_s = seg_ce(o, y, aux_w, slice(0, bs))
            ce_a = seg_ce(o, y, aux_w, slice(bs, 2 * bs))
            loss = ce_s + ce_a
            logs = {"ce_src": ce_s.item(), "ce_active": ce_a.item()}
            if w_pseudo > 0:
                ce_p = F.cross_entropy(p[2 * bs:], y[2 * bs:], ignore_index=IGNORE)
                loss = loss + w_pseudo * ce_p
                logs["ce_pseudo"] = ce_p.item()
            vec = None
            if w_anchor > 0 or use_ema:
                cmap = target_class_map(o["logits"][2 * bs:].detach())
                m, _ = class_mean_features(o["features"][2 * bs:], cmap, ncls, min_px)
                vec = m.flatten(1)
            if w_anchor > 0:
                l_dis = soft_alignment_loss(vec, anchors).mean()
                loss = loss + w_anchor * l_dis
                logs["anchor"] = l_dis.item()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if use_ema:
                ema_update_anchors(anchors, vec.detach(), alpha)
            return logs
    else:
        raise ValueError(f"unknown fine-tuning stage '{stage}'")

    ckpt = Checkpointer(out, tcfg["checkpoint_every"])
    train_loop(step, iters, ckpt, state, desc=f"fine-tune {sel['strategy']} {stage}")
    ckpt.finish(state, iters, checkpoint_meta(cfg, ncls, space, stage=f"finetune_{stage}", source=source,
                                              strategy=sel["strategy"], init=str(init)))


@torch.no_grad()
def dump_pseudo_labels(cfg: dict, checkpoint: str, target: str, out: str, threads: int | None = None) -> None:
    """Argmax pseudo-labels (MADA eq. 10) of every target training image at label resolution, to
    HDF5; pixels below the configured confidence threshold are ignored (0 = plain argmax)."""
    device = setup_runtime(threads, cfg.get("device", "auto"))
    model, meta = load_model(checkpoint, device)
    model.eval()
    ds = open_dataset(cfg, target, "train", meta["label_space"], with_labels=False)
    thr = float(cfg["mada"]["pseudo_threshold"])
    h, w = ds.image_size()
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        write_ids(h5, ds.ids)
        labels = h5.create_dataset("labels", (len(ds), h, w), dtype="u1", chunks=(1, h, w), compression="gzip")
        h5.attrs.update(checkpoint=str(checkpoint), threshold=thr)
        for idx, x, _ in iterate_images(ds, int(cfg["features"]["batch_size"]), False, "pseudo-labels"):
            prob = F.softmax(upsample(model(x.to(device))["logits"], (h, w)), 1)
            conf, lab = prob.max(1)
            lab[conf < thr] = IGNORE
            labels[idx[0]:idx[-1] + 1] = lab.cpu().numpy().astype(np.uint8)
