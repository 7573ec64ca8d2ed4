"""Fine-tuning from a selection list, and MADA's objectives (Ning et al., ICCV'21, Sec. 3.3).

`finetune` sets up what every objective shares (FinetuneContext) and runs one of OBJECTIVES; the
objectives of MADAv2, RIPU and ADA-MCU are in train/objectives.py.
Stage 1: CE on source + CE on the actively labelled target images (eq. 6).
Stage 2: stage 1 + CE on pseudo-labels of the unlabelled target images (eq. 10) + the multi-anchor
soft-alignment loss (eq. 9) against target anchors that follow an EMA (eq. 8).
Both start from a given checkpoint and use its final weights: nothing looks at the evaluation split.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from ..data.datasets import open_dataset
from ..data.labels import IGNORE
from ..data.loader import H5Rows, shard
from ..features import class_mean_features, iterate_images, target_class_map
from ..io import atomic_path, create_planes, write_ids, write_plane
from ..models import upsample
from ..select.selection_list import read_selection, selected_ids
from .common import (BatchStream, Checkpointer, Runtime, checkpoint_meta, descend, finish_distributed, gather_rows,
                     inference_model, load_model, make_sgd, seg_ce, set_poly, train_loop, training_runtime)


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


@dataclass
class FinetuneContext:
    """What every fine-tuning objective starts from: the model and its optimizer, the source
    stream, the stream of actively labelled target images (labels under the selection's masks),
    the target training set and the selection."""
    cfg: dict
    rt: Runtime
    model: torch.nn.Module
    net: torch.nn.Module              # what a step calls: the model, under DDP / torch.compile when asked
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    ncls: int
    label_space: str
    source: object
    target: object
    active: list[int]
    selection: dict
    streams: dict                     # name -> BatchStream; the loader hands each step their batches
    aug: dict
    bs: int
    iters: int
    seed: int
    init: str = ""
    state: dict = field(default_factory=dict)
    schedule_offset: int = 0          # multi-round runs: this round's place in the whole poly schedule
    schedule_total: int | None = None

    @property
    def device(self) -> torch.device:
        return self.rt.device

    @property
    def aux_w(self) -> float:
        return float(self.cfg["train"]["aux_weight"])

    def poly(self, it: int) -> None:
        set_poly(self.optimizer, self.schedule_offset + it, self.schedule_total or self.iters,
                 self.cfg["train"]["poly_power"])

    @property
    def local_bs(self) -> int:
        """Rows of each stream's batch in this process (bs / world in a data-parallel run)."""
        return len(shard(self.bs, self.rt.rank, self.rt.world))

    def forward(self, parts: list[torch.Tensor], labels: list[torch.Tensor],
                with_aux: bool | None = None) -> tuple[dict, torch.Tensor]:
        """Run the concatenated image batches through the network; (outputs, labels on the device)."""
        x, y = self.rt.inputs(torch.cat(parts)), self.rt.labels(torch.cat(labels))
        return self.net(x, with_aux=self.aux_w > 0 if with_aux is None else with_aux), y

    def supervised_forward(self, it: int, b: dict, with_aux: bool | None = None) -> tuple[dict, torch.Tensor, torch.Tensor, dict]:
        """Set the learning rate of iteration `it`, run the source + active batch through the model
        and return (outputs, labels, CE(source) + CE(active) (MADA eq. 6 / RIPU eq. 7), logs); rows
        [0, local_bs) of the batch are source, the rest active target."""
        self.poly(it)
        (xs, ys), (xa, ya) = b["source"], b["active"]
        o, y = self.forward([xs, xa], [ys, ya], with_aux)
        n = self.local_bs
        ce_s = seg_ce(o, y, self.aux_w, slice(0, n))
        ce_a = seg_ce(o, y, self.aux_w, slice(n, None))
        return o, y, ce_s + ce_a, {"ce_src": ce_s.item(), "ce_active": ce_a.item()}

    def descend(self, loss: torch.Tensor) -> None:
        descend(loss, self.optimizer, self.scaler)


# objective -> (the learning-rate / iteration section of `finetune`, what it is)
OBJECTIVES = {
    "stage1": ("stage1", "MADA stage 1: CE(source) + CE(active) (eq. 6)"),
    "stage2": ("stage2", "MADA stage 2: + CE(pseudo-labels) + soft anchor alignment with EMA anchors"),
    "madav2": ("stage2", "MADAv2 step 3: teacher consistency (OHEM, ACM, ACP) + soft anchor alignment (eq. 15)"),
    "ripu": ("stage1", "RIPU: CE(source) + CE(active) + local consistency (eq. 9) + negative learning (eq. 11)"),
    "mcu": ("stage1", "ADA-MCU: CE + CE(low-uncertainty pseudo-labels) + multi-level contrastive units"),
}


def finetune(cfg: dict, stage: str, init: str, selection: str, source: str, target: str, out: str,
             threads: int | None = None, target_anchors: str | None = None, pseudo_labels: str | None = None,
             schedule_round: tuple[int, int] | None = None) -> None:
    """stage: an objective of OBJECTIVES. 'stage2' and 'madav2' need target_anchors and pseudo_labels.
    schedule_round (r, R): round r of R splits the section's iterations and its poly schedule into
    R equal parts and trains part r (RIPU: selection at fixed iterations of one training run)."""
    if stage not in OBJECTIVES:
        raise ValueError(f"unknown fine-tuning objective '{stage}' (known: {', '.join(OBJECTIVES)})")
    rt = training_runtime(cfg, threads)
    fcfg, tcfg = cfg["finetune"], cfg["train"]
    seed = int(cfg["seed"])
    model, meta = load_model(init)
    model = rt.prepare(model.train())
    space, ncls = meta["label_space"], meta["num_classes"]
    src = open_dataset(cfg, source, "train", space)
    tgt = open_dataset(cfg, target, "train", space)
    sel = read_selection(selection)
    active = _indices(tgt, selected_ids(sel))
    # region / pixel selection: only the masked pixels carry their labels
    masks = H5Rows(sel["mask_file"], "masks", [tgt.ids[i] for i in active]) if sel.get("mask_file") else None

    scfg = fcfg[OBJECTIVES[stage][0]]
    iters, offset, total = int(scfg["iterations"]), 0, None
    if schedule_round is not None:
        r, rounds = schedule_round
        if not 1 <= r <= rounds:
            raise ValueError(f"round {r} is outside 1..{rounds}")
        iters = max(1, iters // rounds)
        offset, total = (r - 1) * iters, rounds * iters
    opt = make_sgd(model, scfg["lr"], tcfg["head_lr_mult"], tcfg["momentum"], tcfg["weight_decay"])
    aug = dict(crop=tcfg.get("crop"), scale_range=tcfg["scale_range"], flip=True)
    bs = int(fcfg["batch_size"])
    scaler = rt.grad_scaler()
    streams = {"source": BatchStream(src, range(len(src)), bs, seed, 10, **aug),
               "active": BatchStream(tgt, active, bs, seed, 11, label_fn=MaskedLabels(tgt, masks), **aug)}
    ctx = FinetuneContext(
        cfg=cfg, rt=rt, model=model, net=rt.wrap(model), optimizer=opt, scaler=scaler, ncls=ncls, label_space=space,
        source=src, target=tgt, active=active, selection=sel, streams=streams, aug=aug, bs=bs, iters=iters,
        seed=seed, init=str(init), state={"model": model, "optimizer": opt, "scaler": scaler},
        schedule_offset=offset, schedule_total=total)

    if stage == "stage1":
        step = _stage1_step(ctx)
    elif stage == "stage2":
        step = _mada_stage2_step(ctx, target_anchors, pseudo_labels)
    else:
        from . import objectives

        step = getattr(objectives, f"{stage}_step")(ctx, target_anchors=target_anchors, pseudo_labels=pseudo_labels)

    ckpt = Checkpointer(out, tcfg["checkpoint_every"], rt.rank)
    train_loop(step, iters, ckpt, ctx.state, f"fine-tune {sel['strategy']} {stage}", ctx.streams, rt)
    ckpt.finish(ctx.state, iters, checkpoint_meta(cfg, ncls, space, stage=f"finetune_{stage}", source=source,
                                                  strategy=sel["strategy"], init=str(init)))
    finish_distributed()


class StoredLabels:
    """Stored per-image label maps (pseudo-labels) by dataset index, read lazily per process."""

    def __init__(self, dataset, rows: H5Rows):
        self.ds, self.rows = dataset, rows

    def __call__(self, i: int) -> np.ndarray:
        return self.rows(self.ds.ids[i])


class MaskedLabels:
    """Labels of the actively labelled target images: ground truth under the selection's mask
    (IGNORE elsewhere), or all of it for an image-level selection (masks None). Picklable."""

    def __init__(self, dataset, masks: H5Rows | None):
        self.ds, self.masks = dataset, masks

    def __call__(self, i: int) -> np.ndarray:
        lab = self.ds.label(i)
        if self.masks is not None:
            lab = lab.copy()
            lab[self.masks(self.ds.ids[i]) == 0] = IGNORE
        return lab


def _stage1_step(ctx: FinetuneContext):
    def step(it: int, b: dict) -> dict:
        _, _, loss, logs = ctx.supervised_forward(it, b)
        ctx.descend(loss)
        return logs
    return step


def unlabelled_target(ctx: FinetuneContext) -> list[int]:
    active = set(ctx.active)
    unlabelled = [i for i in range(len(ctx.target)) if i not in active]
    if not unlabelled:
        raise ValueError("this objective needs unlabelled target images, but the selection labels all of them")
    return unlabelled


def load_anchors(ctx: FinetuneContext, target_anchors: str | None) -> torch.Tensor:
    if not target_anchors:
        raise ValueError("this objective needs --target-anchors (k-means target anchors of the stage-1 model)")
    anchors = torch.from_numpy(np.load(target_anchors)["anchors"]).to(ctx.device)
    ctx.state["anchors"] = anchors
    return anchors


def image_level_only(ctx: FinetuneContext, name: str) -> None:
    if ctx.selection.get("mask_file"):
        raise ValueError(f"{name} takes image-level selections; this one labels regions/pixels")


def _mada_stage2_step(ctx: FinetuneContext, target_anchors: str | None, pseudo_labels: str | None):
    image_level_only(ctx, "MADA stage 2")
    if not pseudo_labels:
        raise ValueError("stage2 needs --target-anchors and --pseudo-labels")
    aux_w, tgt = ctx.aux_w, ctx.target
    mcfg = ctx.cfg["mada"]
    anchors = load_anchors(ctx, target_anchors)
    unlabelled = unlabelled_target(ctx)
    pseudo = H5Rows(pseudo_labels, "labels", [tgt.ids[i] for i in unlabelled])
    ctx.streams["unlabelled"] = BatchStream(tgt, unlabelled, ctx.bs, ctx.seed, 12, label_fn=StoredLabels(tgt, pseudo),
                                            **ctx.aug)
    w_anchor, w_pseudo = float(mcfg["anchor_weight"]), float(mcfg["pseudo_weight"])
    alpha, use_ema = float(mcfg["ema_alpha"]), bool(mcfg["ema"])
    min_px = int(ctx.cfg["features"]["min_pixels"])

    def step(it: int, b: dict) -> dict:
        ctx.poly(it)
        o, y = ctx.forward(*zip(b["source"], b["active"], b["unlabelled"]))
        bs = ctx.local_bs
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
            m, _ = class_mean_features(o["features"][2 * bs:], cmap, ctx.ncls, min_px)
            vec = m.flatten(1)
        if w_anchor > 0:
            l_dis = soft_alignment_loss(vec, anchors).mean()
            loss = loss + w_anchor * l_dis
            logs["anchor"] = l_dis.item()
        ctx.descend(loss)
        if use_ema:
            ema_update_anchors(anchors, gather_rows(vec.detach()), alpha)
        return logs
    return step


@torch.inference_mode()
def dump_pseudo_labels(cfg: dict, checkpoint: str, target: str, out: str, threads: int | None = None) -> None:
    """Argmax pseudo-labels (MADA eq. 10) of every target training image at label resolution, to
    HDF5; pixels below the configured confidence threshold are ignored (0 = plain argmax).
    Also the statistics MADAv2's adaptive cutmix reads: per image, the classes in its pseudo-label
    (`classes`, N x C) and, over the whole set, sum and count of log p_c over the pixels
    pseudo-labelled c (`log_conf_sum`, `log_conf_count`: eq. 10)."""
    from .losses import class_log_confidence

    model, meta, rt = inference_model(cfg, checkpoint, threads)
    ds = open_dataset(cfg, target, "train", meta["label_space"], with_labels=False)
    thr = float(cfg["mada"]["pseudo_threshold"])
    ncls = meta["num_classes"]
    sums, counts = torch.zeros(ncls, dtype=torch.float64), torch.zeros(ncls, dtype=torch.float64)
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        write_ids(h5, ds.ids)
        labels = create_planes(h5, "labels", ds.image_sizes(), "u1", fill=IGNORE)
        classes = h5.create_dataset("classes", (len(ds), ncls), dtype=bool)
        h5.attrs.update(checkpoint=str(checkpoint), threshold=thr)
        for idx, x, _ in iterate_images(ds, int(cfg["features"]["batch_size"]), False, "pseudo-labels"):
            logp = F.log_softmax(upsample(model(rt.inputs(x))["logits"], x.shape[-2:]), 1)
            conf, lab = logp.exp().max(1)
            lab[conf < thr] = IGNORE
            s, c = class_log_confidence(logp.double().cpu(), lab.cpu(), ncls)
            sums += s
            counts += c
            for j, i in enumerate(idx):
                write_plane(labels, i, lab[j].cpu().numpy().astype(np.uint8))
            classes[idx[0]:idx[-1] + 1] = (F.one_hot(lab.clamp_max(ncls), ncls + 1)[..., :ncls]
                                           .flatten(1, 2).amax(1).cpu().numpy().astype(bool))
        h5.create_dataset("log_conf_sum", data=sums.numpy())
        h5.create_dataset("log_conf_count", data=counts.numpy())
