"""What every training stage shares: the segmentation loss, SGD with the poly schedule, resume
checkpoints that carry the optimizer state, a loop that survives being killed, and the helpers of
data-parallel runs. Devices and runtimes are in adaseg.runtime, model building and loading in
adaseg.models.checkpoint."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.labels import IGNORE
from ..data.loader import BatchStream, step_loader
from ..io import load_torch, save_torch
from ..models import upsample
from ..runtime import Runtime

log = logging.getLogger("adaseg")


def seg_ce(out: dict, y: torch.Tensor, aux_weight: float = 0.0, part: slice = slice(None)) -> torch.Tensor:
    """Cross-entropy (eq. 7 of MADA / eq. 8 of RIPU) of the main head on the rows `part` of a batch,
    plus aux_weight x the same loss of the auxiliary head (trained so that ADA-MCU can compare the
    two heads)."""
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


def _transient(obj) -> bool:
    """State that a resume needs but a final checkpoint does not: optimizers and loss scalers."""
    return isinstance(obj, (torch.optim.Optimizer, torch.amp.GradScaler))


class Checkpointer:
    """Final checkpoint at `path`; while training, `<path>.partial.pt` every `every` iterations.
    A run that finds the partial file resumes from it. The partial file holds the optimizers (and
    the fp16 loss scaler) too; the final one does not (no stage continues another's optimizer, and
    SGD momentum would double its size). In a data-parallel run only rank 0 writes; every rank
    resumes from the same file."""

    def __init__(self, path: str | Path, every: int, rank: int = 0):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial.pt")
        self.every = max(1, int(every))
        self.rank = rank

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
        if self.rank == 0 and done % self.every == 0 and done < total:
            save_torch(self.partial, dict(self._snapshot(state), iteration=done))

    def finish(self, state: dict, iterations: int, meta: dict) -> None:
        if self.rank != 0:
            return
        kept = {k: o for k, o in state.items() if not _transient(o)}
        save_torch(self.path, dict(self._snapshot(kept), iteration=iterations, meta=meta))
        if self.partial.exists():
            os.unlink(self.partial)


Step = Callable[[int, dict], dict]


def train_loop(step: Step, iterations: int, *, ckpt: Checkpointer, state: dict, desc: str,
               streams: dict[str, BatchStream], rt: Runtime, log_every: int = 50) -> None:
    """Run step(it, batches) for it in [resume point, iterations), checkpointing as it goes.
    `batches` maps each stream's name to its (images, labels) at iteration it (this rank's share),
    computed ahead by the runtime's DataLoader workers."""
    start = ckpt.resume(state)
    running: dict[str, float] = {}
    batches = step_loader(streams, start, iterations, rt.workers, rt.pin_memory, rt.prefetch, rt.rank, rt.world)
    bar = tqdm(batches, initial=start, total=iterations, desc=desc, unit="it", mininterval=2.0,
               dynamic_ncols=True, disable=not rt.main)
    for it, b in bar:
        losses = step(it, b)
        for k, v in losses.items():
            running[k] = 0.9 * running.get(k, v) + 0.1 * v
        if rt.main and ((it + 1) % log_every == 0 or it + 1 == iterations):
            msg = " ".join(f"{k}={v:.4f}" for k, v in running.items())
            bar.set_postfix_str(msg)
            log.info("%s it %d/%d %s", desc, it + 1, iterations, msg)
        ckpt.maybe_save(state, it + 1, iterations)


def descend(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
    """One optimizer step on `loss` (scaled for fp16)."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def gather_rows(t: torch.Tensor) -> torch.Tensor:
    """The rows of `t` from every rank, in rank order (the global batch); `t` itself when not
    data-parallel. For state that every rank must update alike (EMA anchors, DCCM counts)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t
    parts: list = [None] * dist.get_world_size()
    dist.all_gather_object(parts, t.cpu())
    return torch.cat(parts).to(t.device)


def finish_distributed() -> None:
    """Leave the process group of a data-parallel run (all ranks wait for rank 0's checkpoint)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def checkpoint_meta(cfg: dict, num_classes: int, label_space: str, **extra) -> dict:
    return dict(model_cfg=cfg["model"], num_classes=num_classes, label_space=label_space, **extra)
