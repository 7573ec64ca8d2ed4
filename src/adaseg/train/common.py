"""What every training stage shares: deterministic resumable batch streams, SGD with the poly
schedule, resume checkpoints that carry the optimizer state, and a loop that survives being killed."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.loader import BatchStream, default_workers, step_loader
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
    if device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick its fastest kernels
    log.info("running on %s (torch %s, %d CPU threads)", device, torch.__version__, torch.get_num_threads())
    return torch.device(device)


@dataclass
class Runtime:
    """Where and how a stage runs its model: device, precision, memory format, and its place in a
    data-parallel group (rank, world; torchrun sets WORLD_SIZE/RANK/LOCAL_RANK)."""
    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    workers: int = 0
    prefetch: int = 2
    rank: int = 0
    world: int = 1
    sync_bn: bool = False
    freeze_bn: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def pin_memory(self) -> bool:
        return self.device.type == "cuda"

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """Move a model to the device in the runtime's memory format and precision (in place)."""
        model.to(self.device)
        if self.freeze_bn:
            freeze_batchnorm(model)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if hasattr(model, "set_precision"):
            model.set_precision(self.precision)
        return model

    def wrap(self, model: torch.nn.Module, find_unused: bool = True) -> torch.nn.Module:
        """The callable a training step runs: DistributedDataParallel over the model when world > 1
        (SyncBatchNorm with train.sync_bn), compiled with torch.compile when asked. The model itself
        keeps its state-dict keys. find_unused: some parameters (the auxiliary head) may take no
        part in a step."""
        net = model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            if self.sync_bn:
                net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = DDP(net, device_ids=ids, find_unused_parameters=find_unused)
        if self.compile:
            net = torch.compile(net)
        return net

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """An image batch on the device (asynchronous copy from pinned memory), in the memory format."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def labels(self, y: torch.Tensor) -> torch.Tensor:
        return y.to(self.device, non_blocking=True)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A loss scaler for fp16 (bf16 and fp32 need none: it is then a no-op)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")


def training_runtime(cfg: dict, threads: int | None) -> Runtime:
    """The runtime of a training stage from the config (`device`, `train.precision`,
    `channels_last`, `compile`, `workers`, `prefetch`, `sync_bn`); under torchrun, joins the
    process group (NCCL on GPUs, gloo on CPU) and takes GPU LOCAL_RANK."""
    tcfg = cfg["train"]
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    want = cfg.get("device", "auto")
    if world > 1:
        import torch.distributed as dist

        cuda = want == "cuda" or (want == "auto" and torch.cuda.is_available())
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")
        threads = max(1, int(threads or 1) // world)
    device = setup_runtime(threads, want)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    channels_last = tcfg.get("channels_last")
    return Runtime(device=device, precision=tcfg.get("precision", "fp32"),
                   channels_last=device.type == "cuda" if channels_last is None else bool(channels_last),
                   compile=bool(tcfg.get("compile", False)), workers=default_workers(cfg, threads),
                   prefetch=int(tcfg.get("prefetch", 2)), rank=rank, world=world,
                   sync_bn=bool(tcfg.get("sync_bn", False)), freeze_bn=bool(tcfg.get("freeze_bn", False)))


def freeze_batchnorm(model: torch.nn.Module) -> None:
    """Batch norm layers normalise with their running statistics and keep them (their affine
    weights still train), so a step does not depend on how the batch is split over processes."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
            m.train = lambda mode=True, _m=m: _m  # stays in eval mode when the model is set to train


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


def inference_model(cfg: dict, checkpoint: str | Path, threads: int | None = None):
    """(model in eval mode on the config's device, in `train.precision` and, on CUDA, channels_last;
    its checkpoint meta; the device) for the stages that only run the network (feature dumps,
    pseudo-labels, region selection, evaluation); call it under torch.inference_mode()."""
    device = setup_runtime(threads, cfg.get("device", "auto"))
    model, meta = load_model(checkpoint)
    channels_last = cfg["train"].get("channels_last")
    rt = Runtime(device=device, precision=cfg["train"].get("precision", "fp32"),
                 channels_last=device.type == "cuda" if channels_last is None else bool(channels_last))
    return rt.prepare(model.eval()), meta, rt


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


def train_loop(step: Step, iterations: int, ckpt: Checkpointer, state: dict, desc: str,
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
