"""Region- and pixel-level selection with the model in the loop (registry runner "model": RIPU RA /
PA, ADA-MCU), writing a selection list plus an HDF5 file of per-image label masks (cumulative over
rounds)."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from ..data.datasets import open_dataset
from ..features import iterate_images
from ..io import atomic_path, create_planes, open_masks, plane, write_ids, write_plane
from ..models import upsample
from ..models.checkpoint import inference_model
from ..registry import strategy as registered_strategy
from .selection_list import budget_pixels, write_selection


def round_share(total: int, r: int, rounds: int) -> int:
    """Round r of R's share of `total` (the shares of all rounds add up to it)."""
    return total * r // rounds - total * (r - 1) // rounds


@torch.inference_mode()
def run_region_selection(cfg: dict, *, strategy: str, checkpoint: str, target: str, budget_percent: float,
                         out: str | Path, masks_out: str | Path, previous_masks: str | None = None,
                         threads: int | None = None, schedule_round: tuple[int, int] = (1, 1)) -> dict:
    """One round of selection in every target image with the strategy's per-image pick function.
    The per-image budget is `budget_percent` of the image's pixels, or, for a strategy with
    options["budget"] (RIPU PA: ripu.pa_pixels_per_image), that many pixels per image over all
    rounds, round r of R (schedule_round) taking its share."""
    s = registered_strategy(strategy)
    if s.runner != "model":
        raise ValueError(f"'{strategy}' is not a model-in-the-loop strategy (it is run by the {s.runner} runner)")
    pick = s.scorer()
    k = int(cfg["ripu"][s.options["k"]]) if "k" in s.options else 0
    model, meta, rt = inference_model(cfg, checkpoint, threads)
    ds = open_dataset(cfg, target, "train", meta["label_space"], with_labels=False)
    sizes = ds.image_sizes()
    fraction = budget_percent / 100.0
    r, rounds = schedule_round
    fixed = round_share(int(cfg["ripu"][s.options["budget"]]), r, rounds) if "budget" in s.options else None
    with_aux = "aux" in s.reads
    entries, total_budget, total_new, total_labelled = [], 0, 0, 0
    with ExitStack() as stack:
        prev = None
        if previous_masks:
            prev_ids, prev = stack.enter_context(open_masks(previous_masks))
            if prev_ids != ds.ids:
                raise ValueError(f"'{previous_masks}' does not list the target training images in order")
        tmp = stack.enter_context(atomic_path(masks_out))
        h5 = stack.enter_context(h5py.File(tmp, "w"))
        write_ids(h5, ds.ids)
        masks = create_planes(h5, "masks", sizes, "u1")
        h5.attrs.update(strategy=s.name, k=k, checkpoint=str(checkpoint))
        for idx, x, _ in iterate_images(ds, int(cfg["features"]["batch_size"]), False, f"{s.name} selection"):
            h, w = x.shape[-2:]  # a batch holds images of one size
            budget = fixed if fixed is not None else budget_pixels(fraction, h * w)
            heads = model(rt.inputs(x), with_aux=with_aux)
            prob = F.softmax(upsample(heads["logits"], (h, w)), 1).cpu().numpy()
            prob_aux = F.softmax(upsample(heads["aux"], (h, w)), 1).cpu().numpy() if with_aux else None
            for j, i in enumerate(idx):
                labelled = plane(prev, i).astype(bool) if prev is not None else np.zeros((h, w), bool)
                rng = np.random.default_rng([int(cfg["seed"]), 13, i])
                new, picks, score = pick(prob[j], None if prob_aux is None else prob_aux[j], budget, labelled,
                                         cfg=cfg, options=s.options, rng=rng)
                mask = labelled | new
                write_plane(masks, i, mask.astype(np.uint8))
                total_budget += budget
                total_new += int(new.sum())
                total_labelled += int(mask.sum())
                if mask.any():
                    entries.append({"id": ds.ids[i], "pixels": int(mask.sum()), "new_pixels": int(new.sum()),
                                    "picks": len(picks),
                                    "score": float(f"{float(np.mean([score[p] for p in picks])) if picks else 0.0:.9g}")})
    sel = dict(strategy=s.name, unit=s.unit, seed=int(cfg["seed"]), k=k,
               budget_fraction=None if fixed is not None else fraction,
               pool_images=len(ds), pool_pixels=int(sum(hh * ww for hh, ww in sizes)), budget_pixels=total_budget,
               pixels_labelled=total_new, pixels_labelled_total=total_labelled,
               mask_file=str(masks_out), selected=entries)
    write_selection(out, sel)
    return sel
