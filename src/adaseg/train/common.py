"""What every training stage shares: the segmentation loss, SGD with the poly schedule, resume
checkpoints that carry the optimizer state and the fingerprint of the run they resume, a loop that
survives being killed, and the helpers of data-parallel runs. Devices and runtimes are in
adaseg.runtime, model building and loading in adaseg.models.checkpoint."""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.labels import IGNORE
from ..data.loader import BatchStream, step_loader
from ..errors import CheckpointError, TrainingDivergedError
from ..io import load_torch, save_torch, write_text
from ..models import upsample
from ..runtime import Runtime

log = logging.getLogger("adaseg")


def seg_ce(out: dict, y: torch.Tensor, aux_weight: float = 0.0, part: slice = slice(None)) -> torch.Tensor:
    """Cross-entropy (eq. 7 of MADA / eq. 8 of RIPU) of the main head on the rows `part` of a batch,
    plus aux_weight x the same loss of the auxiliary head (trained so that ADA-MCU can compare the
    two heads). Rows without a labelled pixel (a crop of a region- or pixel-labelled image that holds
    none of its labels) add no loss, where cross_entropy's mean over no pixel is NaN."""
    if not bool((y[part] != IGNORE).any()):
        return out["logits"][part].sum() * 0.0   # zero, and still part of the graph
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


ROUND_SHARES = ("equal", "ripu")


def ripu_picks(rounds: int) -> list[Fraction]:
    """The fractions of RIPU's training run at which its `rounds` selections happen: 10k, 12k, 14k,
    16k, 18k of 40k for 5 rounds (BIT-DA/RIPU configs/gtav/deeplabv2_r101_RA.yaml:16-25,
    train.py:184-200), i.e. p_r = 1/4 + 1/5 (r - 1) / (R - 1), the first at 0.25 and the last at
    0.45 of training for any R; [0] for one round (one selection, then the whole run)."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, not {rounds}")
    if rounds == 1:
        return [Fraction(0)]
    return [Fraction(1, 4) + Fraction(1, 5) * Fraction(r - 1, rounds - 1) for r in range(1, rounds + 1)]


def round_iterations(total: int, r: int, rounds: int, rule: str = "equal") -> tuple[int, int, int]:
    """(offset, iterations, schedule_total) of round r of a chain of `rounds` that splits one poly
    schedule of `total` iterations: round r trains iterations [offset, offset + iterations) of a
    schedule of length schedule_total.

    equal: every round n = max(1, total // rounds) iterations, offset (r - 1) n, schedule R n.
    ripu: the shares RIPU's one run gives its rounds. With the picks p_1 < ... < p_R of ripu_picks
    and p_{R+1} = 1, round r trains from p_r to p_{r+1} of RIPU's run; what precedes p_1 is the
    warm-up's training, so the chain's `total` iterations are spread as (p_{r+1} - p_r) / (1 - p_1):
    round r ends at b_{r+1} = round(total (p_{r+1} - p_1) / (1 - p_1)) (b_1 = 0; each round at least
    one iteration) and the schedule is b_{R+1} = total long. R = 5: p = 0.25, 0.30, 0.35, 0.40, 0.45,
    shares 2/30, 2/30, 2/30, 2/30, 22/30 (0.05 / 0.75 and 0.55 / 0.75); R = 2: p = 0.25, 0.45,
    shares 8/30, 22/30; R = 1: the whole schedule."""
    if not 1 <= r <= rounds:
        raise ValueError(f"round {r} is outside 1..{rounds}")
    if rule == "equal":
        n = max(1, int(total) // rounds)
        return (r - 1) * n, n, rounds * n
    if rule != "ripu":
        raise ValueError(f"round shares must be one of {ROUND_SHARES}, not {rule!r}")
    p = ripu_picks(rounds) + [Fraction(1)]
    bounds = [0]
    for k in range(1, rounds + 1):
        b = round(int(total) * (p[k] - p[0]) / (1 - p[0]))
        bounds.append(max(int(b), bounds[-1] + 1))
    return bounds[r - 1], bounds[r] - bounds[r - 1], bounds[-1]


def _transient(obj) -> bool:
    """State that a resume needs but a final checkpoint does not: optimizers, loss scalers and the
    training curve (written as its own CSV file)."""
    return isinstance(obj, (torch.optim.Optimizer, torch.amp.GradScaler, TrainingCurve))


def curve_path(checkpoint: str | Path) -> Path:
    """The training-curve CSV of a checkpoint: `<dir>/<name>.pt` -> `<dir>/<name>.curve.csv`."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name.removesuffix(".pt") + ".curve.csv")


class TrainingCurve:
    """The losses and learning rates of every iteration of a training stage: one row per iteration
    (`iteration` in the stage's whole poly schedule, so the rounds of a chain continue each other,
    `lr` of the segmentation network's backbone, `lr_<name>` of any other optimizer, then each loss
    the step returns). Kept in the resume file, so a resumed run writes the same curve as an
    uninterrupted one; written as CSV (`dvc plots`, the report's `training_curves` figure)."""

    def __init__(self, offset: int = 0):
        self.offset = int(offset)
        self.rows: list[dict] = []

    def add(self, it: int, optimizers: dict[str, torch.optim.Optimizer], losses: dict[str, float]) -> None:
        row = {"iteration": self.offset + it + 1}
        for name, opt in optimizers.items():
            row["lr" if name == "optimizer" else f"lr_{name}"] = float(opt.param_groups[0]["lr"])
        row.update({k: float(v) for k, v in losses.items()})
        self.rows.append(row)

    def state_dict(self) -> dict:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state: dict) -> None:
        self.rows = [dict(r) for r in state["rows"]]

    def write(self, path: str | Path) -> None:
        """The rows as CSV, columns in order of first appearance (empty where an iteration has no
        value), written atomically."""
        import csv
        import io

        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
        write_text(path, buf.getvalue())


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's content, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _canonical(obj):
    """`obj` as plain JSON types (tuples -> lists, paths -> str), so that a fingerprint compares
    equal to itself after a round trip through a torch file."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


# keys of the config sections a fingerprint leaves out: they change neither the batches nor the
# weights (raising mem_mb after an out-of-memory kill must not throw the run's progress away)
NOT_IN_FINGERPRINT = {"train": ("checkpoint_every", "workers", "prefetch", "mem_mb")}


def run_fingerprint(cfg: dict, sections: Iterable[str], datasets: Iterable[str], *, stage: str, iterations: int,
                    model_cfg: dict, init: str | Path | None = None, files: dict | None = None, **fields) -> dict:
    """What a resume file resumes (Checkpointer): the SHA-256 of each config section the stage
    reads (`sections` of the effective cfg, after variants, less NOT_IN_FINGERPRINT, and the
    entries of `datasets` without their `cache` switch, which changes no pixel), the stage, the
    iteration count, the model config, the init checkpoint (path and content hash), the content
    hash of each input file of `files` (name -> path or None) and any further `fields`
    (objective, round, ...)."""
    picked = {k: cfg.get(k) for k in sections}
    for k, skip in NOT_IN_FINGERPRINT.items():
        if isinstance(picked.get(k), dict):
            picked[k] = {key: v for key, v in picked[k].items() if key not in skip}
    picked["datasets"] = {d: {k: v for k, v in cfg["datasets"][d].items() if k != "cache"}
                          for d in dict.fromkeys(datasets)}
    fp = {"config": {k: hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest()
                     for k, v in picked.items()},
          "stage": stage, "iterations": int(iterations), "model_cfg": model_cfg}
    def file(path):  # a file the stage reads: its path and content hash (None: no such file)
        return {"path": str(path), "sha256": file_sha256(path) if Path(path).is_file() else None}

    if init is not None:
        fp["init"] = file(init)
    for name, path in (files or {}).items():
        fp[name] = None if path is None else file(path)
    fp.update(fields)
    return _canonical(fp)


def fingerprint_differences(old, new, prefix: str = "") -> list[str]:
    """The dotted names of the fields where fingerprint `old` differs from `new`."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new), key=str)
                for d in fingerprint_differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [] if old == new else [prefix.rstrip(".") or "fingerprint"]


class Checkpointer:
    """Final checkpoint at `path`; while training, `<path>.partial.pt` every `every` iterations.
    The partial file records the `fingerprint` of its run (see run_fingerprint); a run that finds a
    partial file with its own fingerprint resumes from it, one that finds another's (other config,
    iterations, model, init, selection, ...; or an unreadable file) logs a warning, moves the stale
    file aside to `<path>.partial.pt.stale-<n>` (never deleting it) and starts over. The partial
    file holds the optimizers (and the fp16 loss scaler) too; the final one does not (no stage
    continues another's optimizer, and SGD momentum would double its size). In a data-parallel run
    only rank 0 writes (and moves); every rank resumes from the same file."""

    def __init__(self, path: str | Path, every: int, rank: int = 0, fingerprint: dict | None = None):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial.pt")
        self.every = max(1, int(every))
        self.rank = rank
        self.fingerprint = _canonical(fingerprint or {})

    def _set_aside(self) -> Path:
        n = 1
        while (stale := self.partial.with_name(f"{self.partial.name}.stale-{n}")).exists():
            n += 1
        os.replace(self.partial, stale)
        return stale

    def resume(self, state: dict) -> int:
        if not self.partial.is_file():
            return 0
        try:
            ck = load_torch(self.partial)
            if not isinstance(ck, dict) or "iteration" not in ck:
                raise CheckpointError(f"'{self.partial}' is not a resume file")
            if "fingerprint" not in ck and self.fingerprint:
                why = "it records no fingerprint"
            else:
                differ = fingerprint_differences(ck.get("fingerprint", {}), self.fingerprint)
                why = f"its {', '.join(differ)} differ" if differ else ""
        except CheckpointError as e:
            ck, why = None, f"it is unreadable: {e}"
        _barrier()  # every rank has read the partial file before rank 0 moves it
        if why:
            if self.rank == 0:
                stale = self._set_aside()
                log.warning("%s resumes another run (%s); starting over, the stale file is kept as %s",
                            self.partial, why, stale)
            return 0
        for k, obj in state.items():
            if k not in ck and isinstance(obj, TrainingCurve):  # a resume file written before curves
                log.warning("%s holds no training curve: the curve starts at iteration %d", self.partial,
                            ck["iteration"])
                continue
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
            save_torch(self.partial, dict(self._snapshot(state), iteration=done, fingerprint=self.fingerprint))

    def finish(self, state: dict, iterations: int, meta: dict) -> None:
        if self.rank != 0:
            return
        kept = {k: o for k, o in state.items() if not _transient(o)}
        save_torch(self.path, dict(self._snapshot(kept), iteration=iterations, meta=meta))
        if self.partial.exists():
            os.unlink(self.partial)


Step = Callable[[int, dict], dict]


def train_loop(step: Step, iterations: int, *, ckpt: Checkpointer, state: dict, desc: str,
               streams: dict[str, BatchStream], rt: Runtime, log_every: int = 50, schedule_offset: int = 0) -> None:
    """Run step(it, batches) for it in [resume point, iterations), checkpointing as it goes.
    `batches` maps each stream's name to its (images, labels) at iteration it (this rank's share),
    computed ahead by the runtime's DataLoader workers. Rank 0 records every iteration's losses and
    learning rates (TrainingCurve, iterations counted from `schedule_offset`) and writes them to
    curve_path(checkpoint) at the end."""
    curve = TrainingCurve(schedule_offset)
    optimizers = {k: o for k, o in state.items() if isinstance(o, torch.optim.Optimizer)}
    state = dict(state, curve=curve)
    start = ckpt.resume(state)
    running: dict[str, float] = {}
    batches = step_loader(streams, start, iterations, rt.workers, rt.pin_memory, rt.prefetch, rt.rank, rt.world)
    bar = tqdm(batches, initial=start, total=iterations, desc=desc, unit="it", mininterval=2.0,
               dynamic_ncols=True, disable=not rt.main)
    for it, b in bar:
        losses = step(it, b)
        bad = sorted(k for k, v in losses.items() if not math.isfinite(v))
        if bad:
            lrs = ", ".join(f"{g['lr']:.3g}" for o in optimizers.values() for g in o.param_groups[:2])
            raise TrainingDivergedError(
                f"{desc}: the loss {', '.join(bad)} became {losses[bad[0]]} at iteration {it + schedule_offset + 1} "
                f"(learning rates {lrs}); no checkpoint is written. Lower the stage's learning rate in the config "
                "(warmup.lr / finetune.<stage>.lr), or, for a model trained from scratch, use batch norm in training "
                "mode (finetune.bn: per_domain or joint instead of frozen)")
        curve.add(it, optimizers, losses)
        for k, v in losses.items():
            running[k] = 0.9 * running.get(k, v) + 0.1 * v
        if rt.main and ((it + 1) % log_every == 0 or it + 1 == iterations):
            msg = " ".join(f"{k}={v:.4f}" for k, v in running.items())
            bar.set_postfix_str(msg)
            log.info("%s it %d/%d %s", desc, it + 1, iterations, msg)
        ckpt.maybe_save(state, it + 1, iterations)
    if rt.main:
        curve.write(curve_path(ckpt.path))


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


def _barrier() -> None:
    """Wait for every rank of a data-parallel run (nothing outside one)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def finish_distributed() -> None:
    """Leave the process group of a data-parallel run (all ranks wait for rank 0's checkpoint)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def checkpoint_meta(cfg: dict, num_classes: int, label_space: str, *, model_cfg: dict | None = None,
                    **extra) -> dict:
    """The meta of a final checkpoint: the model it holds (`model_cfg`, default the config's
    `model`: a fine-tuned model is the init checkpoint's, whatever the config says), its classes
    and label space, and `extra` (stage, source, ...)."""
    return dict(model_cfg=cfg["model"] if model_cfg is None else model_cfg, num_classes=num_classes,
                label_space=label_space, **extra)
