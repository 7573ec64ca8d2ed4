"""Region- and pixel-level selection with the model in the loop (registry runner "model": RIPU RA /
PA, ADA-MCU), writing a selection list plus an HDF5 file of per-image label masks (cumulative over
rounds)."""
from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from ..data.datasets import open_dataset
from ..errors import BudgetError, InputFileError
from ..features import iterate_images
from ..io import atomic_path, create_planes, open_masks, plane, write_ids, write_plane
from ..models import upsample
from ..models.checkpoint import inference_model
from ..registry import strategy as registered_strategy
from .mcu import mcu_pool_picks, mcu_quota, mcu_score
from .checks import CHAIN_BUDGET, check_percent, foreign_masks, percent_for
from .selection_list import budget_pixels, write_selection

log = logging.getLogger(__name__)


def round_share(total: int, r: int, rounds: int) -> int:
    """Round r of R's share of `total` (the shares of all rounds add up to it)."""
    return total * r // rounds - total * (r - 1) // rounds


def _labelled_pixels(prev, path: str, ids: list[str], sizes) -> np.ndarray:
    """Pixels each image's previous mask labels (one pass over the masks file, checking the sizes)."""
    counts = np.zeros(len(ids), np.int64)
    for i, (h, w) in enumerate(sizes):
        m = plane(prev, i)
        if m.shape != (h, w):
            raise InputFileError(f"'{path}': the mask of '{ids[i]}' is {m.shape[0]}x{m.shape[1]} but the image is "
                                 f"{h}x{w}; pass --previous-masks the masks of the previous round on this target "
                                 "(same datasets.<target>.resize)")
        counts[i] = int(np.count_nonzero(m))
    return counts


def _pool_class_shares(ds, num_classes: int, who: str) -> np.ndarray:
    """Each class's share of the labelled pixels of the target pool (the class-balanced oracles'
    quotas); an error when the pool has no label files."""
    from .oracle import class_pixel_counts, class_shares

    if any(smp.label is None for smp in ds.samples):
        reason = ds.no_labels_reason
        raise InputFileError(f"{who} is an oracle: it selects with the target's ground truth, but {reason}; "
                             "leave oracle rows out of the tables you build for an unlabelled pool")
    counts = np.zeros(num_classes, np.int64)
    for i in range(len(ds)):
        counts += class_pixel_counts(ds.label(i), num_classes)
    return class_shares(counts)


@torch.inference_mode()
def run_region_selection(cfg: dict, *, strategy: str, checkpoint: str, target: str, budget_percent: float,
                         out: str | Path, masks_out: str | Path, previous_masks: str | None = None,
                         threads: int | None = None, schedule_round: tuple[int, int] = (1, 1)) -> dict:
    """One round of selection in every target image with the strategy's per-image pick function.
    The per-image budget is `budget_percent` of the image's pixels, or, for a strategy with
    options["budget"] (RIPU PA: ripu.pa_pixels_per_image), that many pixels per image over all
    rounds, round r of R (schedule_round) taking its share.

    Budgets are per image, as in the papers (RIPU labels a share of every image), and an image never
    gives more than its free (not yet labelled) pixels; ADA-MCU with `mcu.quota: global` (its
    paper, Sec. IV.C) meets the sum of the per-image budgets over the pool with one threshold, so
    its images get different shares. A BudgetError when the round
    cannot be met: a budget outside (0, 100]% (or the R rounds adding up to more than 100%), PA
    pixels per image above an image's pixels, the pool's free pixels fewer than the round's budget
    (beyond half a pixel per image and round of rounding), or a budget that selects nothing. An
    image with fewer free pixels than its budget (while the pool has enough) gives all it can; the
    shortfall is logged, and so is a total shortfall beyond what whole RA squares explain."""
    s = registered_strategy(strategy)
    if s.runner != "model":
        raise ValueError(f"'{strategy}' is not a model-in-the-loop strategy (it is run by the {s.runner} runner)")
    pick = s.scorer()
    k = int(cfg["ripu"][s.options["k"]]) if "k" in s.options else 0
    r, rounds = schedule_round
    who = f"{s.name} round {r} of {rounds}"
    fraction = budget_percent / 100.0
    budget_key = f"ripu.{s.options['budget']}" if "budget" in s.options else None
    if budget_key is None:
        check_percent(budget_percent, who, "each image's pixels", CHAIN_BUDGET)
        if budget_percent * rounds > 100 * (1 + 1e-5):   # the per-round share is printed with 6 digits
            raise BudgetError(f"{who}: {budget_percent:g}% of each image's pixels in each of {rounds} rounds is "
                              f"{budget_percent * rounds:g}%, more than the images hold; set {CHAIN_BUDGET} to at "
                              "most 100")
    model, meta, rt = inference_model(cfg, checkpoint, threads)
    with_truth = "labels" in s.reads   # an oracle: it selects with the target ground truth
    ds = open_dataset(cfg, target, "train", meta["label_space"], with_labels=with_truth)
    share = _pool_class_shares(ds, meta["num_classes"], s.name) if with_truth else None
    sizes = ds.image_sizes()
    area = np.array([h * w for h, w in sizes], np.int64)
    fixed = None
    if budget_key is not None:
        per_image = int(cfg["ripu"][s.options["budget"]])
        small = int(np.argmin(area))
        if per_image > area[small]:
            h, w = sizes[small]
            raise BudgetError(f"{budget_key} = {per_image:,} is more than the {int(area[small]):,} pixels of {target} "
                              f"training image '{ds.ids[small]}' ({h}x{w}); set {budget_key} to at most "
                              f"{int(area[small]):,}")
        fixed = round_share(per_image, r, rounds)
        if fixed == 0:
            least = next(n for n in range(1, rounds + 1) if round_share(n, r, rounds) > 0)
            every = "" if least == rounds else f" ({rounds} for a pixel in every round)"
            raise BudgetError(f"'{out}': {who} gets 0 of the {per_image} pixels per image of {budget_key} over "
                              f"{rounds} rounds, so nothing would be selected; set {budget_key} to at least "
                              f"{least}{every}")
    budgets = np.array([fixed if fixed is not None else budget_pixels(fraction, int(a)) for a in area], np.int64)
    square = (2 * k + 1) ** 2 if s.unit == "region" else 1     # one unit: an RA square, or a pixel
    smallest = (k + 1) ** 2 if s.unit == "region" else 1       # a corner square
    if budgets.max() < smallest:
        least = percent_for(square, int(area.max()))
        raise BudgetError(f"'{out}': {who}: {budget_percent:g}% of each image's pixels is {int(budgets.max())} px, "
                          f"less than one {'(2k+1)^2 square' if square > 1 else 'pixel'} ({square} px), so nothing "
                          f"would be selected; use a chain <budget> of at least {least * rounds:g} ({least:g}% per "
                          f"round x {rounds} round{'s' * (rounds > 1)})")
    with_aux = "aux" in s.reads
    # ADA-MCU with mcu.quota: global picks with one threshold over the pool: scores first, then picks
    pooled = s.name == "mcu" and mcu_quota(cfg) == "global"
    entries: list[dict] = []
    total_budget = int(budgets.sum())
    with ExitStack() as stack:
        prev = None
        free = area.copy()
        if previous_masks:
            prev_ids, prev = stack.enter_context(open_masks(previous_masks))
            if prev_ids != ds.ids:
                raise foreign_masks(previous_masks, prev_ids, ds.ids, target, r, rounds)
            free = area - _labelled_pixels(prev, previous_masks, ds.ids, sizes)
            left, allowance = int(free.sum()), len(area) * (r // 2)   # earlier rounds' per-image rounding
            if s.unit == "region" and cfg["ripu"].get("ra_squares", "ceil") == "ceil":
                allowance += len(area) * (square - 1) * (r - 1)   # earlier rounds' whole squares past the budget
            if total_budget > left + allowance:
                what = (f"{fixed} px of each image, round {r}'s share of {budget_key}" if fixed is not None
                        else f"{budget_percent:g}% of each image")
                change = (f"lower {budget_key}" if fixed is not None else f"lower {CHAIN_BUDGET} so that its rounds "
                          "add up to at most 100%")
                raise BudgetError(f"{who} asks for {total_budget:,} px ({what}) but only {left:,} of the "
                                  f"{int(area.sum()):,} px of the pool are not labelled yet ('{previous_masks}' "
                                  f"labels {int(area.sum()) - left:,}): {change}, or pass the masks of this chain's "
                                  "previous round")
            short = np.flatnonzero(free < budgets)
            if short.size and not pooled:   # a pool-wide quota needs no image to hold its own budget
                log.warning("%s: %d of %d images have fewer free pixels than their budget (%d px short in all): "
                            "they give all they have", who, short.size, len(area), int((budgets - free)[short].sum()))
        tmp = stack.enter_context(atomic_path(masks_out))
        h5 = stack.enter_context(h5py.File(tmp, "w"))
        write_ids(h5, ds.ids)
        masks = create_planes(h5, "masks", sizes, "u1")
        h5.attrs.update(strategy=s.name, k=k, checkpoint=str(checkpoint))
        tally = {"new": 0, "labelled": 0}

        def emit(i: int, new: np.ndarray, picks: list, score: np.ndarray, labelled: np.ndarray) -> None:
            """Write image i's cumulative mask and its entry in the selection list."""
            mask = labelled | new
            write_plane(masks, i, mask.astype(np.uint8))
            tally["new"] += int(new.sum())
            tally["labelled"] += int(mask.sum())
            if mask.any():
                entries.append({"id": ds.ids[i], "pixels": int(mask.sum()), "new_pixels": int(new.sum()),
                                "picks": len(picks),
                                "score": float(f"{float(np.mean([score[p] for p in picks])) if picks else 0.0:.9g}")})

        pool_scores: dict[int, np.ndarray] = {}
        pool_labelled: dict[int, np.ndarray] = {}
        for idx, x, y in iterate_images(ds, int(cfg["features"]["batch_size"]), with_truth, f"{s.name} selection"):
            h, w = x.shape[-2:]  # a batch holds images of one size
            heads = model(rt.inputs(x), with_aux=with_aux)
            prob = F.softmax(upsample(heads["logits"], (h, w)), 1).cpu().numpy()
            prob_aux = F.softmax(upsample(heads["aux"], (h, w)), 1).cpu().numpy() if with_aux else None
            for j, i in enumerate(idx):
                budget = int(budgets[i])
                labelled = plane(prev, i).astype(bool) if prev is not None else np.zeros((h, w), bool)
                if pooled:   # pass 1 of a pool-wide selection: every image's score map first
                    pool_scores[i] = mcu_score(prob[j], prob_aux[j], cfg=cfg)
                    pool_labelled[i] = labelled
                    continue
                rng = np.random.default_rng([int(cfg["seed"]), 13, i])
                truth = {"truth": (y[j].numpy(), share)} if with_truth else {}
                new, picks, score = pick(prob[j], None if prob_aux is None else prob_aux[j], budget, labelled,
                                         cfg=cfg, options=s.options, rng=rng, **truth)
                emit(i, new, picks, score, labelled)
        if pooled:   # pass 2: one annealed threshold over the pool (ADA-MCU Sec. IV.C, Algorithm 1)
            order = range(len(ds))
            news = mcu_pool_picks([pool_scores[i] for i in order], budgets, [pool_labelled[i] for i in order],
                                  cfg=cfg, rng=np.random.default_rng([int(cfg["seed"]), 13]))
            for i, new in zip(order, news):
                emit(i, new, [tuple(p) for p in np.argwhere(new)], pool_scores[i], pool_labelled[i])
        total_new, total_labelled = tally["new"], tally["labelled"]
        if total_new == 0:   # raised here, the masks file is not written either
            if budgets.max() < square:
                least = percent_for(square, int(area.max()))
                why = (f"a budget of {int(budgets.max())} px per image is less than one (2k+1)^2 square ({square} px); "
                       f"use a chain <budget> of at least {least * rounds:g} ({least:g}% per round x {rounds} "
                       f"round{'s' * (rounds > 1)})")
            elif "k" in s.options:
                why = ("every candidate centre is labelled or within the blocking radius of an earlier pick; lower "
                       f"ripu.{s.options['k']}, multi_round.rounds or the budget")
            else:
                why = f"no image has a free pixel left; lower {CHAIN_BUDGET}"
            raise BudgetError(f"'{out}': {who} selects 0 new pixels (a budget of {total_budget:,} px): {why}")
    if total_new < total_budget - len(area) * (square - 1):
        log.warning("%s: %d new pixels of a %d px budget (%d images): fewer free pixels or candidate centres than the "
                    "budget asks for", who, total_new, total_budget, len(area))
    sel = dict(strategy=s.name, unit=s.unit, seed=int(cfg["seed"]), k=k,
               budget_fraction=None if fixed is not None else fraction,
               pool_images=len(ds), pool_pixels=int(area.sum()), budget_pixels=total_budget,
               pixels_labelled=total_new, pixels_labelled_total=total_labelled,
               mask_file=str(masks_out), selected=entries)
    write_selection(out, sel)
    return sel
