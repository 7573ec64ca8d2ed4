"""Where a stage runs its model: the device and thread setup (`setup_runtime`), the `Runtime` that
moves a model and its batches there in the configured precision and memory format, and
`training_runtime`, which also joins the data-parallel process group under torchrun."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch

from .data.loader import default_workers

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


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX); elsewhere bf16 is emulated."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


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
        if self.precision == "bf16" and self.device.type == "cpu" and not cpu_has_native_bf16():
            log.warning("train.precision is bf16 but this CPU has no native bf16 (AVX512-BF16/AMX): the passes are "
                        "emulated and slower than fp32; set train.precision: fp32 in your config")
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
