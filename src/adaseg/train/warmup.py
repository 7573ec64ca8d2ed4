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
from ..models import OutputSpaceDiscriminator, upsample
from .common import (BatchStream, Checkpointer, checkpoint_meta, make_sgd, new_model, seg_ce, set_poly,
                     setup_runtime, train_loop)

SOURCE_LABEL, TARGET_LABEL = 0.0, 1.0


def train_warmup(cfg: dict, kind: str, source: str, target: str, out: str, threads: int | None = None) -> None:
    """kind: 'source_only' or 'adaptseg'. Writes the checkpoint (model, discriminator if any, meta) to `out`."""
    device = setup_runtime(threads, cfg.get("device", "auto"))
    wcfg, tcfg = cfg["warmup"], cfg["train"]
    seed = int(cfg["seed"])
    space = default_label_space(cfg["datasets"][source]["kind"])
    ncls = num_classes(space)
    src = open_dataset(cfg, source, "train", space)
    model = new_model(cfg, ncls, seed).to(device).train()
    opt = make_sgd(model, wcfg["lr"], tcfg["head_lr_mult"], tcfg["momentum"], tcfg["weight_decay"])
    iters = int(wcfg["iterations"])
    aug = dict(crop=tcfg.get("crop"), scale_range=tcfg["scale_range"], flip=True)
    src_stream = BatchStream(src, range(len(src)), tcfg["batch_size"], seed, 0, **aug)
    state = {"model": model, "optimizer": opt}
    power = tcfg["poly_power"]
    aux_w = float(tcfg["aux_weight"])

    if kind == "source_only":
        def step(it: int) -> dict:
            set_poly(opt, it, iters, power)
            x, y = src_stream.batch(it)
            x, y = x.to(device), y.to(device)
            loss = seg_ce(model(x, with_aux=aux_w > 0), y, aux_w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return {"ce_src": loss.item()}
    elif kind == "adaptseg":
        tgt = open_dataset(cfg, target, "train", space, with_labels=False)
        size = tgt.image_size()
        no_label = lambda i: np.full(size, IGNORE, np.uint8)  # noqa: E731  (target labels are never read)
        tgt_stream = BatchStream(tgt, range(len(tgt)), tcfg["batch_size"], seed, 1, label_fn=no_label, **aug)
        acfg = wcfg["adaptseg"]
        torch.manual_seed(seed + 1)
        disc = OutputSpaceDiscriminator(ncls, base=acfg["disc_width"], kernel_size=acfg["disc_kernel"]).to(device).train()
        dopt = torch.optim.Adam(disc.parameters(), lr=acfg["disc_lr"], betas=(0.9, 0.99))
        for g in dopt.param_groups:
            g["base_lr"] = acfg["disc_lr"]
        state.update(discriminator=disc, disc_optimizer=dopt)
        lam = float(acfg["adv_weight"])

        def step(it: int) -> dict:
            set_poly(opt, it, iters, power)
            set_poly(dopt, it, iters, power)
            xs, ys = src_stream.batch(it)
            xt, _ = tgt_stream.batch(it)
            xs, ys, xt = xs.to(device), ys.to(device), xt.to(device)
            # segmentation network: CE on source + lambda_adv * fool the discriminator on target
            for p in disc.parameters():
                p.requires_grad_(False)
            os_ = model(xs, with_aux=aux_w > 0)
            ps = upsample(os_["logits"], ys.shape[-2:])
            ce = seg_ce(os_, ys, aux_w)
            pt = upsample(model(xt)["logits"], xt.shape[-2:])
            dt = disc(F.softmax(pt, 1))
            adv = F.binary_cross_entropy_with_logits(dt, torch.full_like(dt, SOURCE_LABEL))
            opt.zero_grad(set_to_none=True)
            (ce + lam * adv).backward()
            opt.step()
            # discriminator: source maps -> 0, target maps -> 1
            for p in disc.parameters():
                p.requires_grad_(True)
            ds = disc(F.softmax(ps.detach(), 1))
            dt = disc(F.softmax(pt.detach(), 1))
            dloss = 0.5 * (F.binary_cross_entropy_with_logits(ds, torch.full_like(ds, SOURCE_LABEL))
                           + F.binary_cross_entropy_with_logits(dt, torch.full_like(dt, TARGET_LABEL)))
            dopt.zero_grad(set_to_none=True)
            dloss.backward()
            dopt.step()
            return {"ce_src": ce.item(), "adv": adv.item(), "disc": dloss.item()}
    else:
        raise ValueError(f"unknown warm-up '{kind}' (source_only or adaptseg)")

    ckpt = Checkpointer(out, tcfg["checkpoint_every"])
    train_loop(step, iters, ckpt, state, desc=f"warm-up {kind} ({source})")
    extra = {}
    if kind == "adaptseg":
        extra = dict(disc_width=acfg["disc_width"], disc_kernel=acfg["disc_kernel"])
    ckpt.finish(state, iters, checkpoint_meta(cfg, ncls, space, stage=f"warmup_{kind}", source=source, **extra))
