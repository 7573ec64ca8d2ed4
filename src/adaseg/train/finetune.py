"""Fine-tuning from a selection list: the orchestrator every objective runs under.

`finetune` loads the initial checkpoint, opens the source and target training sets and the
selection, builds the shared FinetuneContext (model, optimizer, the source stream and the stream of
actively labelled target images) and runs the training step of one fine-tuning objective, which it
finds in adaseg.registry (the step modules are imported only then: train/mada.py, madav2.py,
ripu.py, mcu.py). Also here: the label functions of the target streams (MaskedLabels,
StoredLabels) and the helpers several objectives share. Every objective starts from a given
checkpoint and uses its final weights: nothing looks at the evaluation split.

The protocol of the official code, each a config switch whose default `objective` takes the
objective's (registry fields bn, schedule, round_shares):
- finetune.bn: how batch norm sees a step's batch. joint: one forward of source + target
  concatenated. per_domain: one forward per stream part (source, active target, unlabelled target,
  ...), outputs concatenated, so every part is normalised with its own batch statistics (MADA:
  munanning/MADA models/adaptation_model.py:160-180, 182-198; munanning/MADAv2 models/adaptation_model_AEL.py:239,
  319, 375). frozen: batch norm layers in eval mode all through fine-tuning (running statistics used,
  never updated) and their weight and bias out of training (RIPU: FrozenBatchNorm2d, BIT-DA/RIPU
  core/models/layers.py:5-23, configs/gtav/deeplabv2_r101_RA.yaml:4; D2ADA: tsunghan-wu/D2ADA
  models/__init__.py:11-18, agent/base_agent.py:66-69, utils/common.py:112-114). Every forward of the
  model being trained goes through FinetuneContext.forward.
- multi_round.schedule: split (one poly schedule over the rounds of a chain) or restart (every round
  a fresh, full schedule of the section's iterations: tsunghan-wu/D2ADA train_ADA.py:40-42, 58-68,
  agent/base_agent.py:32-42); `objective` (the default): the objective's own (d2ada restart, others split).
- multi_round.round_shares: equal or ripu (the shares of RIPU's selection iterations,
  train.common.round_iterations).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from .. import registry
from ..data.datasets import open_dataset, resize_nearest, with_label_files
from ..data.labels import IGNORE
from ..data.loader import BatchStream, H5Rows, shard
from ..errors import ConfigError, InputFileError
from ..models.checkpoint import load_model
from ..runtime import Runtime, training_runtime
from ..select.selection_list import read_selection, selected_ids
from .common import (ROUND_SHARES, Checkpointer, checkpoint_meta, descend, finish_distributed, make_sgd,
                     round_iterations, run_fingerprint, seg_ce, set_poly, train_loop)

BN_MODES = ("joint", "per_domain", "frozen")
SCHEDULES = ("split", "restart")


def _pick(value, official: str, allowed: tuple[str, ...], key: str) -> str:
    value = official if value in (None, "objective") else str(value)
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)} or objective, not {value!r}")
    return value


def bn_mode(cfg: dict, spec) -> str:
    """finetune.bn of a run with objective `spec` (registry Objective): the config's, or the
    objective's official mode where it says `objective` (the default)."""
    return _pick(cfg["finetune"].get("bn", "objective"), spec.bn, BN_MODES, "finetune.bn")


def schedule_mode(cfg: dict, spec) -> str:
    """How a chain's rounds share the schedule: multi_round.schedule, or where it says `objective`
    (the default) the objective's official one (D2ADA: restart; the others: split)."""
    return _pick((cfg.get("multi_round") or {}).get("schedule", "objective"), spec.schedule or "split", SCHEDULES,
                 "multi_round.schedule")


def round_share_rule(cfg: dict, spec) -> str:
    """multi_round.round_shares, or the objective's official rule where it says `objective` (the default)."""
    return _pick((cfg.get("multi_round") or {}).get("round_shares", "objective"), spec.round_shares, ROUND_SHARES,
                 "multi_round.round_shares")


def round_schedule(total: int, r: int, rounds: int, schedule: str = "split",
                   shares: str = "equal") -> tuple[int, int, int, int]:
    """(offset, iterations, schedule_total, curve_offset) of round r of `rounds` of a chain whose
    section trains `total` iterations: split: round r's part of one poly schedule
    (round_iterations with rule `shares`), its curve continuing the previous round's; restart: the
    whole schedule from its start (offset 0, `total` iterations), its curve after the r - 1 earlier
    rounds' r - 1 schedules."""
    if schedule == "restart":
        if not 1 <= r <= rounds:
            raise ValueError(f"round {r} is outside 1..{rounds}")
        total = max(1, int(total))
        return 0, total, total, (r - 1) * total
    if schedule != "split":
        raise ValueError(f"schedule must be one of {SCHEDULES}, not {schedule!r}")
    offset, iters, length = round_iterations(total, r, rounds, shares)
    return offset, iters, length, offset


def batchnorm_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if isinstance(m, _BatchNorm)]


def freeze_batchnorm(model: torch.nn.Module) -> None:
    """finetune.bn frozen, as the official code freezes batch norm: every batch norm layer in eval
    mode (normalising with its running statistics, which never change) and its weight and bias out
    of training (requires_grad False: FrozenBatchNorm2d keeps them as buffers, BIT-DA/RIPU
    core/models/layers.py:5-23; tsunghan-wu/D2ADA models/__init__.py:11-18). Call it before the model
    is wrapped (DDP registers the parameters that require gradients); FinetuneContext.forward puts
    the layers back in eval mode before every forward, whatever model.train() did in between."""
    for m in batchnorm_layers(model):
        m.eval()
        for p in (m.weight, m.bias):
            if p is not None:
                p.requires_grad_(False)


def _indices(ds, ids: list[str]) -> list[int]:
    pos = {s: i for i, s in enumerate(ds.ids)}
    missing = [s for s in ids if s not in pos]
    if missing:
        raise ValueError(f"selection lists ids not in {ds.kind} '{ds.root}': {missing[:5]}")
    return [pos[s] for s in ids]


@dataclass(kw_only=True)
class FinetuneContext:
    """What every fine-tuning objective starts from: the model and its optimizer, the source
    stream, the stream of actively labelled target images (labels under the selection's masks),
    the target training set and the selection. `files` holds the HDF5 readers of the run
    (`rows`), closed when `finetune` ends."""
    cfg: dict
    rt: Runtime
    model: torch.nn.Module
    net: torch.nn.Module              # what a step calls: the model, under DDP / torch.compile when asked
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    ncls: int
    label_space: str
    source: object
    target: object
    active: list[int]
    selection: dict
    streams: dict                     # name -> BatchStream; the loader hands each step their batches
    aug: dict
    bs: int
    iters: int
    seed: int
    init: str = ""
    state: dict = field(default_factory=dict)
    schedule_offset: int = 0          # multi-round runs: this round's place in the whole poly schedule
    schedule_total: int | None = None
    bn: str = "joint"                 # finetune.bn as resolved for the objective (see the module docstring)
    files: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def device(self) -> torch.device:
        return self.rt.device

    @property
    def aux_w(self) -> float:
        return float(self.cfg["train"]["aux_weight"])

    def poly(self, it: int) -> None:
        set_poly(self.optimizer, self.schedule_offset + it, self.schedule_total or self.iters,
                 self.cfg["train"]["poly_power"])

    @property
    def local_bs(self) -> int:
        """Rows of each stream's batch in this process (bs / world in a data-parallel run)."""
        return len(shard(self.bs, self.rt.rank, self.rt.world))

    def rows(self, path: str, name: str, ids: list[str]) -> H5Rows:
        """A row reader of dataset `name` of the HDF5 file `path` (see H5Rows), closed with the run."""
        return self.files.enter_context(H5Rows(path, name, ids))

    def forward(self, parts: list[torch.Tensor], labels: list[torch.Tensor],
                with_aux: bool | None = None) -> tuple[dict, torch.Tensor]:
        """Run the image batches `parts` (one per stream part, in row order) through the network;
        (outputs with the rows of every part in order, labels on the device). Every forward of the
        model being trained goes through here, so that finetune.bn (`self.bn`) applies to all
        objectives: joint and frozen run the concatenated batch in one pass (frozen: batch norm
        layers in eval mode), per_domain runs each part through `net` on its own (batch norm
        statistics per part) and concatenates the outputs."""
        aux = self.aux_w > 0 if with_aux is None else with_aux
        y = self.rt.labels(torch.cat(labels))
        if self.bn == "frozen":
            for m in batchnorm_layers(self.model):
                m.eval()
        if self.bn == "per_domain" and len(parts) > 1:
            outs = [self.net(self.rt.inputs(x), with_aux=aux) for x in parts]
            return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}, y
        return self.net(self.rt.inputs(torch.cat(parts)), with_aux=aux), y

    def supervised_forward(self, it: int, b: dict, with_aux: bool | None = None,
                           extra: list[tuple[torch.Tensor, torch.Tensor]] = ()
                           ) -> tuple[dict, torch.Tensor, torch.Tensor, dict]:
        """Set the learning rate of iteration `it`, run the source + active batch, followed by the
        (images, labels) batches `extra`, through the model (`forward`: one pass, or one per part
        with finetune.bn per_domain) and return (outputs,
        labels, CE(source) + CE(active) (MADA eq. 6 / RIPU eq. 7), logs). Rows [0, local_bs) of the
        batch are source, [local_bs, 2 local_bs) active target, then the extra batches in order."""
        self.poly(it)
        (xs, ys), (xa, ya) = b["source"], b["active"]
        o, y = self.forward([xs, xa, *(x for x, _ in extra)], [ys, ya, *(lab for _, lab in extra)], with_aux)
        n = self.local_bs
        ce_s = seg_ce(o, y, self.aux_w, slice(0, n))
        ce_a = seg_ce(o, y, self.aux_w, slice(n, 2 * n))
        return o, y, ce_s + ce_a, {"ce_src": ce_s.item(), "ce_active": ce_a.item()}

    def descend(self, loss: torch.Tensor) -> None:
        descend(loss, self.optimizer, self.scaler)


class StoredLabels:
    """Stored per-image label maps (pseudo-labels) by dataset index, read lazily per process."""

    def __init__(self, dataset, rows: H5Rows):
        self.ds, self.rows = dataset, rows

    def __call__(self, i: int) -> np.ndarray:
        return self.rows(self.ds.ids[i])


class MaskedLabels:
    """Labels of the actively labelled target images: ground truth under the selection's mask
    (IGNORE elsewhere), or all of it for an image-level selection (masks None). Picklable."""

    def __init__(self, dataset, masks: H5Rows | None):
        self.ds, self.masks = dataset, masks

    def __call__(self, i: int) -> np.ndarray:
        lab = self.ds.label(i)
        if self.masks is not None:
            lab = lab.copy()
            # annotated masks are at the image file's size: read them at the label's, as the label was
            lab[resize_nearest(self.masks(self.ds.ids[i]), lab.shape) == 0] = IGNORE
        return lab


def unlabelled_target(ctx: FinetuneContext) -> list[int]:
    active = set(ctx.active)
    unlabelled = [i for i in range(len(ctx.target)) if i not in active]
    if not unlabelled:
        raise ValueError("this objective needs unlabelled target images, but the selection labels all of them")
    return unlabelled


def read_anchors(path: str | Path, num_classes: int, channels: int, init: str = "") -> np.ndarray:
    """The (K, num_classes x channels) array 'anchors' of a target-anchors .npz (adaseg
    target-anchors: k-means of the class-mean decoder features of the model), or a one-line
    InputFileError naming the file, the expected and the found shape."""
    path = Path(path)
    fix = "rerun adaseg target-anchors on the features of the model fine-tuned here"
    if not path.is_file():
        raise InputFileError(f"target anchors file '{path}' does not exist; {fix}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise InputFileError(f"target anchors file '{path}' is a single .npy array, not an .npz with "
                                     f"'anchors'; {fix}")
            if "anchors" not in z.files:
                raise InputFileError(f"target anchors file '{path}' has no array 'anchors' (it holds: "
                                     f"{', '.join(z.files) or 'nothing'}); {fix}")
            anchors = z["anchors"]
    except InputFileError:
        raise
    except Exception:  # not an npz: zip, pickle and format errors of every kind
        raise InputFileError(f"target anchors file '{path}' is not a readable .npz (truncated or another kind of "
                             f"file); {fix}") from None
    dim = num_classes * channels
    of_model = f" of the model of '{init}'" if init else ""
    if anchors.ndim != 2 or anchors.shape[0] < 1 or anchors.shape[1] != dim:
        raise InputFileError(f"target anchors file '{path}' holds anchors of shape {tuple(anchors.shape)}, expected "
                             f"(K >= 1, {dim}) = {num_classes} classes x {channels} decoder channels{of_model}; {fix}")
    if anchors.dtype.kind != "f":
        raise InputFileError(f"target anchors file '{path}' holds {anchors.dtype} anchors, expected floats; {fix}")
    return anchors


def load_anchors(ctx: FinetuneContext, target_anchors: str | None) -> torch.Tensor:
    if not target_anchors:
        raise ValueError("this objective needs --target-anchors (k-means target anchors of the stage-1 model)")
    anchors = read_anchors(target_anchors, ctx.ncls, ctx.model.feature_dim, ctx.init)
    anchors = torch.from_numpy(anchors).to(ctx.device)
    ctx.state["anchors"] = anchors
    return anchors


def image_level_only(ctx: FinetuneContext, name: str) -> None:
    if ctx.selection.get("mask_file"):
        raise ValueError(f"{name} takes image-level selections; this one labels regions/pixels")


def finetune(cfg: dict, *, objective: str, init: str, selection: str, source: str, target: str, out: str,
             threads: int | None = None, target_anchors: str | None = None, pseudo_labels: str | None = None,
             schedule_round: tuple[int, int] = (1, 1), labels: str | None = None,
             label_masks: str | None = None) -> None:
    """Fine-tune the model of checkpoint `init` on `source` and the images `selection` labels in
    `target` with a fine-tuning objective of adaseg.registry, writing the checkpoint `out`. The
    semi-supervised objectives (registry `starts_from`) need target_anchors and pseudo_labels.
    schedule_round (r, R): round r of R of a chain. multi_round.schedule split: the section's
    iterations and its poly schedule are split into R parts (multi_round.round_shares: equal, or
    RIPU's shares; RIPU selects at fixed iterations of one training run) and part r is trained;
    restart (D2ADA): every round trains the section's full schedule from its start.
    labels / label_masks (oracle: labelstudio): the annotators' label folder and labelled pixels
    (adaseg import-labels), read instead of the target's label files and the selection's masks."""
    spec = registry.objective(objective)
    rt = training_runtime(cfg, threads)
    fcfg, tcfg = cfg["finetune"], cfg["train"]
    seed = int(cfg["seed"])
    model, meta = load_model(init)
    model = rt.prepare(model.train())
    bn = bn_mode(cfg, spec)
    if bn == "frozen":
        freeze_batchnorm(model)   # before rt.wrap: DDP takes the parameters that require gradients
    space, ncls = meta["label_space"], meta["num_classes"]
    src = open_dataset(cfg, source, "train", space)
    tgt = open_dataset(cfg, target, "train", space)
    if bool(labels) != bool(label_masks):
        raise ConfigError("--labels and --label-masks go together (both written by adaseg import-labels)")
    if labels:
        tgt = with_label_files(tgt, labels)
    sel = read_selection(selection)
    active = _indices(tgt, selected_ids(sel))
    mask_file = label_masks or sel.get("mask_file")
    with contextlib.ExitStack() as files:
        # region / pixel selection: only the masked pixels carry their labels
        masks = (files.enter_context(H5Rows(mask_file, "masks", [tgt.ids[i] for i in active]))
                 if mask_file else None)

        scfg = fcfg[spec.section]
        r, rounds = schedule_round
        if not 1 <= r <= rounds:
            raise ValueError(f"round {r} is outside 1..{rounds}")
        # the fully supervised upper bound has every target label (20x the images of 5%): its own
        # schedule, as in the papers, where it is a separate run (finetune.full_supervision)
        full = fcfg.get("full_supervision") if registry.strategy(sel["strategy"]).upper_bound else None
        schedule, shares = schedule_mode(cfg, spec), round_share_rule(cfg, spec)
        # finetune.objective_iterations: the official code's count for this objective (configs/paper_gta5.yaml)
        chain_iterations = (full or {}).get("iterations") or fcfg.get("objective_iterations", {}).get(spec.name) \
            or scfg["iterations"]
        offset, iters, total, curve_offset = round_schedule(int(chain_iterations), r, rounds, schedule, shares)
        opt = make_sgd(model, scfg["lr"], tcfg["head_lr_mult"], tcfg["momentum"], tcfg["weight_decay"])
        aug = dict(crop=tcfg.get("crop"), scale_range=tcfg["scale_range"], flip=True)
        bs = int(fcfg["batch_size"])
        scaler = rt.grad_scaler()
        streams = {"source": BatchStream(src, range(len(src)), bs, seed, 10, **aug),
                   "active": BatchStream(tgt, active, bs, seed, 11, label_fn=MaskedLabels(tgt, masks), **aug)}
        ctx = FinetuneContext(
            cfg=cfg, rt=rt, model=model, net=rt.wrap(model), optimizer=opt, scaler=scaler, ncls=ncls,
            label_space=space, source=src, target=tgt, active=active, selection=sel, streams=streams, aug=aug,
            bs=bs, iters=iters, seed=seed, init=str(init), state={"model": model, "optimizer": opt, "scaler": scaler},
            schedule_offset=offset, schedule_total=total, bn=bn, files=files)
        step = spec.step_builder()(ctx, target_anchors=target_anchors, pseudo_labels=pseudo_labels)

        # what a resume file of this run must match: the config sections and datasets it reads, its
        # init checkpoint, selection (and masks), anchors and pseudo-labels, objective and round
        fingerprint = run_fingerprint(
            cfg, ("seed", "train", "finetune", *spec.config), [source, target], stage=f"finetune_{objective}",
            iterations=iters, model_cfg=meta["model_cfg"], init=init,
            files=dict(selection=selection, masks=mask_file, target_anchors=target_anchors,
                       pseudo_labels=pseudo_labels),
            objective=objective, round=[r, rounds], num_classes=ncls, label_space=space,
            bn=bn, schedule=schedule, round_shares=shares, schedule_part=[offset, total])
        ckpt = Checkpointer(out, tcfg["checkpoint_every"], rt.rank, fingerprint)
        train_loop(step, iters, ckpt=ckpt, state=ctx.state, desc=f"fine-tune {sel['strategy']} {objective}",
                   streams=ctx.streams, rt=rt, schedule_offset=curve_offset)
        # the model is the init checkpoint's (its architecture, classes, label space), not the config's
        ckpt.finish(ctx.state, iters, checkpoint_meta(cfg, ncls, space, model_cfg=meta["model_cfg"],
                                                      stage=f"finetune_{objective}", source=source,
                                                      strategy=sel["strategy"], init=str(init)))
    finish_distributed()
