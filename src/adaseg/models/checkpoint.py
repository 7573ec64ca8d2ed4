"""Building and loading models: a freshly initialised segmentation model (`new_model`), a checked
checkpoint (`read_checkpoint`: one-line CheckpointErrors for files adaseg did not write), the model
stored in a checkpoint (`load_model`), that model ready for inference on the configured device
(`inference_model`), and the AdaptSeg discriminator of a warm-up checkpoint (`load_discriminator`)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import CheckpointError
from ..io import load_torch
from ..runtime import Runtime, setup_runtime
from .deeplab import build_model
from .discriminator import OutputSpaceDiscriminator


def new_model(cfg: dict, num_classes: int, seed: int):
    torch.manual_seed(seed)
    return build_model(cfg["model"], num_classes)


WRITERS = "adaseg warmup or adaseg finetune"  # the stages that write model checkpoints
META_KEYS = ("model_cfg", "num_classes", "label_space")  # what a checkpoint's meta must say of its model


def read_checkpoint(path: str | Path) -> dict:
    """The dict of a model checkpoint written by `Checkpointer.finish` (`model` weights and a `meta`
    with the model's config, classes and label space), or a one-line CheckpointError."""
    ck = load_torch(path)
    if not isinstance(ck, dict) or not isinstance(ck.get("meta"), dict):
        found = f"a {type(ck).__name__}"
        if isinstance(ck, dict):
            keys = [str(k) for k in ck]
            found = f"keys: {', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''}"
        raise CheckpointError(f"checkpoint '{path}' has no 'meta' ({found}), so adaseg did not write it; "
                              f"point to a checkpoint written by {WRITERS}")
    missing = [k for k in META_KEYS if k not in ck["meta"]]
    if missing:
        raise CheckpointError(f"checkpoint '{path}': its meta lacks {', '.join(missing)} (it has: "
                              f"{', '.join(map(str, ck['meta'])) or 'nothing'}); rerun the stage that wrote it "
                              f"({WRITERS}) with this adaseg")
    if not isinstance(ck.get("model"), dict):
        raise CheckpointError(f"checkpoint '{path}' has a meta but no 'model' weights; rerun the stage that wrote it "
                              f"({WRITERS})")
    bad = next((k for k, v in ck["model"].items()
                if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
    if bad is not None:
        raise CheckpointError(f"checkpoint '{path}': weight '{bad}' holds NaN or infinite values, so nothing computed "
                              f"from it can be trusted; rerun the stage that wrote it ({WRITERS}) with a lower "
                              "learning rate")
    return ck


def load_model(path: str | Path, device: torch.device | str = "cpu"):
    """Rebuild the segmentation model stored in a checkpoint written by `Checkpointer.finish`."""
    ck = read_checkpoint(path)
    meta = ck["meta"]
    try:
        model_cfg = dict(meta["model_cfg"], imagenet_weights=None)
        model = build_model(model_cfg, meta["num_classes"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint '{path}': its meta model_cfg {meta['model_cfg']!r} does not describe a "
                              f"model ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); rerun the "
                              f"stage that wrote it ({WRITERS})") from None
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError:
        theirs, ours = set(ck["model"]), set(model.state_dict())
        why = (f"{len(ours - theirs)} missing and {len(theirs - ours)} unexpected weights" if theirs != ours
               else "weights of other shapes")
        raise CheckpointError(f"checkpoint '{path}': its weights do not fit the model its meta describes "
                              f"(backbone {meta['model_cfg'].get('backbone')}, {meta['num_classes']} classes: {why}); "
                              f"rerun the stage that wrote it ({WRITERS})") from None
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
    ck = read_checkpoint(path)
    if "discriminator" not in ck:
        return None
    meta = ck["meta"]
    missing = [k for k in ("disc_width", "disc_kernel") if k not in meta]
    if missing:
        raise CheckpointError(f"checkpoint '{path}' holds a discriminator but its meta lacks {', '.join(missing)}; "
                              "rerun the AdaptSeg warm-up that wrote it (adaseg warmup --kind adaptseg)")
    disc = OutputSpaceDiscriminator(meta["num_classes"], base=meta["disc_width"], kernel_size=meta["disc_kernel"])
    disc.load_state_dict(ck["discriminator"])
    return disc.to(device).eval()
