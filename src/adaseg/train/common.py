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

from ..data.datasets import SegmentationDataset
from ..data.labels import IGNORE
from ..io import load_torch, save_torch
from ..models import build_model

log = logging.getLogger("adaseg")

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def setup_runtime(threads: int | None, device: str = "auto") -> torch.device:
    if threads:
        torch.set_num_threads(int(threads))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config device is 'cuda' but torch sees no GPU; set device: auto or cpu")
    log.info("running on %s (torch %s, %d CPU threads)", device, torch.__version__, torch.get_num_threads())
    return torch.device(device)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> normalised float 3xHxW."""
    return (torch.from_numpy(img).permute(2, 0, 1).float() / 255.0 - MEAN) / STD


def augment(img: torch.Tensor, label: torch.Tensor, rng: np.random.Generator, crop: tuple[int, int],
            scale_range: tuple[float, float], flip: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Random rescale, pad-and-crop to `crop`, horizontal flip (image 3xHxW, label HxW)."""
    s = rng.uniform(*scale_range)
    h, w = img.shape[-2:]
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    if (nh, nw) != (h, w):
        img = F.interpolate(img[None], size=(nh, nw), mode="bilinear", align_corners=False)[0]
        label = F.interpolate(label[None, None].float(), size=(nh, nw), mode="nearest")[0, 0].long()
    ch, cw = crop
    ph, pw = max(ch - nh, 0), max(cw - nw, 0)
    if ph or pw:
        img = F.pad(img, (0, pw, 0, ph), value=0.0)
        label = F.pad(label, (0, pw, 0, ph), value=IGNORE)
    y0 = int(rng.integers(0, img.shape[-2] - ch + 1))
    x0 = int(rng.integers(0, img.shape[-1] - cw + 1))
    img, label = img[:, y0:y0 + ch, x0:x0 + cw], label[y0:y0 + ch, x0:x0 + cw]
    if flip and rng.random() < 0.5:
        img, label = img.flip(-1), label.flip(-1)
    return img, label


class BatchStream:
    """Batch `it` of a stream is a pure function of (seed, stream id, it): sample order is a fresh
    permutation per epoch and augmentation draws from a generator seeded per sample, so a run
    resumed at iteration k sees exactly the batches an uninterrupted run would."""

    def __init__(self, dataset: SegmentationDataset, indices, batch_size: int, seed: int, stream_id: int,
                 crop, scale_range=(1.0, 1.0), flip: bool = True,
                 label_fn: Callable[[int], np.ndarray] | None = None):
        self.ds, self.indices = dataset, np.asarray(indices, dtype=np.int64)
        if len(self.indices) == 0:
            raise ValueError(f"empty training stream over {dataset.kind} '{dataset.root}'")
        self.bs, self.seed, self.sid = batch_size, seed, stream_id
        self.crop = tuple(crop) if crop else dataset.image_size()
        self.scale_range, self.flip = tuple(scale_range), flip
        self.label_fn = label_fn or dataset.label
        self._perm_epoch, self._perm = -1, None

    def _index(self, pos: int) -> int:
        n = len(self.indices)
        epoch = pos // n
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, self.sid, epoch]).permutation(n)
            self._perm_epoch = epoch
        return int(self.indices[self._perm[pos % n]])

    def batch(self, it: int) -> tuple[torch.Tensor, torch.Tensor]:
        imgs, lbls = [], []
        for j in range(self.bs):
            i = self._index(it * self.bs + j)
            rng = np.random.default_rng([self.seed, self.sid, it, j])
            img = to_tensor(self.ds.image(i))
            lbl = torch.from_numpy(self.label_fn(i).astype(np.int64))
            img, lbl = augment(img, lbl, rng, self.crop, self.scale_range, self.flip)
            imgs.append(img)
            lbls.append(lbl)
        return torch.stack(imgs), torch.stack(lbls)


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
