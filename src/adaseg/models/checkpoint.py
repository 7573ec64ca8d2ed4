"""Building and loading models: a freshly initialised segmentation model (`new_model`), the model
stored in a checkpoint (`load_model`), that model ready for inference on the configured device
(`inference_model`), and the AdaptSeg discriminator of a warm-up checkpoint (`load_discriminator`)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..io import load_torch
from ..runtime import Runtime, setup_runtime
from .deeplab import build_model
from .discriminator import OutputSpaceDiscriminator


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
    its checkpoint meta; its Runtime) for the stages that only run the network (feature dumps,
    pseudo-labels, region selection, evaluation); call it under torch.inference_mode()."""
    device = setup_runtime(threads, cfg.get("device", "auto"))
    model, meta = load_model(checkpoint)
    channels_last = cfg["train"].get("channels_last")
    rt = Runtime(device=device, precision=cfg["train"].get("precision", "fp32"),
                 channels_last=device.type == "cuda" if channels_last is None else bool(channels_last))
    return rt.prepare(model.eval()), meta, rt


def load_discriminator(path: str | Path, device: torch.device | str = "cpu"):
    """The AdaptSeg discriminator stored beside the model in a warm-up checkpoint, or None."""
    ck = load_torch(path)
    if "discriminator" not in ck:
        return None
    meta = ck["meta"]
    disc = OutputSpaceDiscriminator(meta["num_classes"], base=meta["disc_width"], kernel_size=meta["disc_kernel"])
    disc.load_state_dict(ck["discriminator"])
    return disc.to(device).eval()
