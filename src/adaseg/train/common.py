"""What every training stage shares: deterministic resumable batch streams, SGD with the poly
schedule, resume checkpoints that carry the optimizer state, and a loop that survives being killed."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.loader import BatchStream, augment, to_tensor  # noqa: F401  (re-exported for the stages)
from ..data.labels import IGNORE
from ..io import load_torch, save_torch
from ..models import build_model

log = logging.getLogger("adaseg")

def setup_runtime(threads: int | None, device: str = "auto") -> torch.device:
    if threads:
        torch.set_num_threads(int(threads))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config device is 'cuda' but torch sees no GPU; set device: auto or cpu")
    log.info("running on %s (torch %s, %d CPU threads)", device, torch.__version__, torch.get_num_threads())
    return torch.device(device)


def seg_ce(out: dict, y: torch.Tensor, aux_weight: float = 0.0, part: slice = slice(None)) -> torch.Tensor:
    """Cross-entropy (eq. 7 of MADA / eq. 8 of RIPU) of the main head on the rows `part` of a batch,
    plus aux_weight x the same loss of the auxiliary head (trained so that ADA-MCU can compare the
    two heads)."""
    from ..models import upsample

    loss = F.cross_entropy(upsample(out["logits"][part], y.shape[-2:]), y[part], ignore_index=IGNORE)
    if aux_weight > 0 and "aux" in out:
        loss = loss + aux_weight * F.cross_entropy(upsample(out["aux"][part], y.shape[-2:]), y[part],
                                                   ignore_index=IGNORE)
    return loss


def poly_lr(base: float, it: int, max_it: int, power: float) -> float:
    return base * (1 - it / max_it) ** power


def make_sgd(model, lr: float, head_lr_mult: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    return torch.optim.SGD(
        [{"params": model.backbone_parameters(), "lr": lr, "base_lr": lr},
         {"params": model.head_parameters(), "lr": lr * head_lr_mult, "base_lr": lr * head_lr_mult}],
        lr=lr, momentum=momentum, weight_decay=weight_decay)


def set_poly(optimizer: torch.optim.Optimizer, it: int, max_it: int, power: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = poly_lr(g["base_lr"], it, max_it, power)


def new_model(cfg: dict, num_classes: int, seed: int):
    torch.manual_seed(seed)
    return build_model(cfg["model"], num_classes)


def load_model(path: str | Path, device: torch.device | str = "cpu"):
    """Rebuild the segmentation model stored in a checkpoint written by `Checkpointer.finish`."""
    ck = load_torch(path)
    meta = ck["meta"]
    model_cfg = dict(meta["model_cfg"], imagenet_weights=None)
    model = build_model(model_cfg, meta["num_classes"])
    model.load_state_dict(ck["model"])
    return model.to(device), meta


def load_discriminator(path: str | Path, device: torch.device | str = "cpu"):
    """The AdaptSeg discriminator stored beside the model in a warm-up checkpoint, or None."""
    from ..models import OutputSpaceDiscriminator

    ck = load_torch(path)
    if "discriminator" not in ck:
        return None
    meta = ck["meta"]
    disc = OutputSpaceDiscriminator(meta["num_classes"], base=meta["disc_width"], kernel_size=meta["disc_kernel"])
    disc.load_state_dict(ck["discriminator"])
    return disc.to(device).eval()


class Checkpointer:
    """Final checkpoint at `path`; while training, `<path>.partial.pt` every `every` iterations.
    A run that finds the partial file resumes from it. The partial file holds the optimizers too; the
    final one does not (no stage continues another's optimizer, and SGD momentum would double its size)."""

    def __init__(self, path: str | Path, every: int):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial.pt")
        self.every = max(1, int(every))

    def resume(self, state: dict) -> int:
        if not self.partial.is_file():
            return 0
        ck = load_torch(self.partial)
        for k, obj in state.items():
            if hasattr(obj, "load_state_dict"):
                obj.load_state_dict(ck[k])
            else:
                obj.copy_(ck[k])
        log.info("resumed %s at iteration %d", self.partial, ck["iteration"])
        return int(ck["iteration"])

    @staticmethod
    def _snapshot(state: dict) -> dict:
        return {k: (o.state_dict() if hasattr(o, "state_dict") else o) for k, o in state.items()}

    def maybe_save(self, state: dict, done: int, total: int) -> None:
        if done % self.every == 0 and done < total:
            save_torch(self.partial, dict(self._snapshot(state), iteration=done))

    def finish(self, state: dict, iterations: int, meta: dict) -> None:
        kept = {k: o for k, o in state.items() if not isinstance(o, torch.optim.Optimizer)}
        save_torch(self.path, dict(self._snapshot(kept), iteration=iterations, meta=meta))
        if self.partial.exists():
            os.unlink(self.partial)


def train_loop(step: Callable[[int], dict], iterations: int, ckpt: Checkpointer, state: dict, desc: str,
               log_every: int = 50) -> None:
    """Run step(it) for it in [resume point, iterations), checkpointing as it goes."""
    start = ckpt.resume(state)
    running: dict[str, float] = {}
    bar = tqdm(range(start, iterations), initial=start, total=iterations, desc=desc, unit="it",
               mininterval=2.0, dynamic_ncols=True)
    for it in bar:
        losses = step(it)
        for k, v in losses.items():
            running[k] = 0.9 * running.get(k, v) + 0.1 * v
        if (it + 1) % log_every == 0 or it + 1 == iterations:
            msg = " ".join(f"{k}={v:.4f}" for k, v in running.items())
            bar.set_postfix_str(msg)
            log.info("%s it %d/%d %s", desc, it + 1, iterations, msg)
        ckpt.maybe_save(state, it + 1, iterations)


def checkpoint_meta(cfg: dict, num_classes: int, label_space: str, **extra) -> dict:
    return dict(model_cfg=cfg["model"], num_classes=num_classes, label_space=label_space, **extra)
