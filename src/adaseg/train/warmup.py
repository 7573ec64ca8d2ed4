"""Warm-up training: source-only, and AdaptSeg adversarial output-space adaptation.

AdaptSeg (Tsai et al., CVPR'18), single level, as the MADA warm-up: the segmentation network is
trained with CE on source plus 0.01 x an adversarial loss that asks the discriminator to take the
target softmax for source; the discriminator learns source (0) vs target (1).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data.datasets import default_label_space, open_dataset
from ..data.labels import IGNORE, num_classes
from ..data.loader import BatchStream
from ..models import OutputSpaceDiscriminator, upsample
from ..models.checkpoint import new_model
from ..runtime import training_runtime
from .common import (Checkpointer, checkpoint_meta, descend, finish_distributed, make_sgd, run_fingerprint, seg_ce,
                     set_poly, train_loop)

SOURCE_LABEL, TARGET_LABEL = 0.0, 1.0


def train_warmup(cfg: dict, kind: str, source: str, target: str, out: str, threads: int | None = None) -> None:
    """kind: 'source_only' or 'adaptseg'. Writes the checkpoint (model, discriminator if any, meta) to `out`."""
    rt = training_runtime(cfg, threads)
    wcfg, tcfg = cfg["warmup"], cfg["train"]
    seed = int(cfg["seed"])
    space = default_label_space(cfg["datasets"][source]["kind"])
    ncls = num_classes(space)
    src = open_dataset(cfg, source, "train", space)
    model = rt.prepare(new_model(cfg, ncls, seed).train())
    opt = make_sgd(model, wcfg["lr"], tcfg["head_lr_mult"], tcfg["momentum"], tcfg["weight_decay"])
    scaler = rt.grad_scaler()
    iters = int(wcfg["iterations"])
    aug = dict(crop=tcfg.get("crop"), scale_range=tcfg["scale_range"], flip=True)
    streams = {"source": BatchStream(src, range(len(src)), tcfg["batch_size"], seed, 0, **aug)}
    state = {"model": model, "optimizer": opt, "scaler": scaler}
    power = tcfg["poly_power"]
    aux_w = float(tcfg["aux_weight"])

    if kind == "source_only":
        net = rt.wrap(model)

        def step(it: int, b: dict) -> dict:
            set_poly(opt, it, iters, power)
            x, y = rt.inputs(b["source"][0]), rt.labels(b["source"][1])
            loss = seg_ce(net(x, with_aux=aux_w > 0), y, aux_w)
            descend(loss, opt, scaler)
            return {"ce_src": loss.item()}
    elif kind == "adaptseg":
        tgt = open_dataset(cfg, target, "train", space, with_labels=False)
        streams["target"] = BatchStream(tgt, range(len(tgt)), tcfg["batch_size"], seed, 1,
                                        label_fn=NoLabels(tgt.image_sizes()), **aug)
        acfg = wcfg["adaptseg"]
        torch.manual_seed(seed + 1)
        disc = rt.prepare(OutputSpaceDiscriminator(ncls, base=acfg["disc_width"], kernel_size=acfg["disc_kernel"]).train())
        dnet = rt.wrap(disc, find_unused=False)  # the generator step calls `disc` itself (frozen)
        both = rt.wrap(TwoPass(model))            # one call through DDP for the source and target passes
        dopt = torch.optim.Adam(disc.parameters(), lr=acfg["disc_lr"], betas=(0.9, 0.99))
        for g in dopt.param_groups:
            g["base_lr"] = acfg["disc_lr"]
        state.update(discriminator=disc, disc_optimizer=dopt)
        lam = float(acfg["adv_weight"])

        def step(it: int, b: dict) -> dict:
            set_poly(opt, it, iters, power)
            set_poly(dopt, it, iters, power)
            xs, ys, xt = rt.inputs(b["source"][0]), rt.labels(b["source"][1]), rt.inputs(b["target"][0])
            # segmentation network: CE on source + lambda_adv * fool the discriminator on target
            for p in disc.parameters():
                p.requires_grad_(False)
            os_, ot = both(xs, xt, aux_w > 0)
            ps = upsample(os_["logits"], ys.shape[-2:])
            ce = seg_ce(os_, ys, aux_w)
            pt = upsample(ot["logits"], xt.shape[-2:])
            dt = disc(F.softmax(pt, 1))
            adv = F.binary_cross_entropy_with_logits(dt, torch.full_like(dt, SOURCE_LABEL))
            descend(ce + lam * adv, opt, scaler)
            # discriminator: source maps -> 0, target maps -> 1
            for p in disc.parameters():
                p.requires_grad_(True)
            ds = dnet(F.softmax(ps.detach(), 1))
            dt = dnet(F.softmax(pt.detach(), 1))
            dloss = 0.5 * (F.binary_cross_entropy_with_logits(ds, torch.full_like(ds, SOURCE_LABEL))
                           + F.binary_cross_entropy_with_logits(dt, torch.full_like(dt, TARGET_LABEL)))
            descend(dloss, dopt, scaler)
            return {"ce_src": ce.item(), "adv": adv.item(), "disc": dloss.item()}
    else:
        raise ValueError(f"unknown warm-up '{kind}' (source_only or adaptseg)")

    # what a resume file of this run must match: the config sections and datasets the warm-up reads
    fingerprint = run_fingerprint(cfg, ("seed", "model", "train", "warmup"),
                                  [source, target] if kind == "adaptseg" else [source],
                                  stage=f"warmup_{kind}", iterations=iters, model_cfg=cfg["model"],
                                  num_classes=ncls, label_space=space)
    ckpt = Checkpointer(out, tcfg["checkpoint_every"], rt.rank, fingerprint)
    train_loop(step, iters, ckpt=ckpt, state=state, desc=f"warm-up {kind} ({source})", streams=streams, rt=rt)
    extra = {}
    if kind == "adaptseg":
        extra = dict(disc_width=acfg["disc_width"], disc_kernel=acfg["disc_kernel"])
    ckpt.finish(state, iters, checkpoint_meta(cfg, ncls, space, stage=f"warmup_{kind}", source=source, **extra))
    finish_distributed()


class TwoPass(torch.nn.Module):
    """The source and the target batch through the same network in one call (DDP allows one
    forward per backward); two separate passes, as AdaptSeg does, so batch norm sees each alone."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, xs: torch.Tensor, xt: torch.Tensor, with_aux: bool):
        return self.model(xs, with_aux=with_aux), self.model(xt)


class NoLabels:
    """Label function of a stream whose labels are never read: all IGNORE (picklable for workers)."""

    def __init__(self, sizes):
        self.sizes = [tuple(s) for s in sizes]  # (H, W) of each image of the dataset

    def __call__(self, i: int) -> np.ndarray:
        return np.full(self.sizes[i], IGNORE, np.uint8)
