"""Region- and pixel-level selection with a model in the loop (RIPU RA / PA), writing a selection
list plus an HDF5 file of per-image label masks (cumulative over rounds)."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from ..data.datasets import open_dataset
from ..features import iterate_images
from ..io import atomic_path, create_planes, plane, read_masks, write_ids, write_plane
from ..models import upsample
from ..train.common import inference_model
from .mcu import adaptive_sampling, mcu_uncertainty
from .ripu import greedy_picks, ripu_acquisition
from .selection_list import budget_pixels, write_selection

REGION_STRATEGIES = {"ripu_ra": ("RA", "region"), "ripu_pa": ("PA", "pixel"), "mcu": ("MCU", "pixel")}


@torch.inference_mode()
def run_region_selection(cfg: dict, strategy: str, checkpoint: str, target: str, budget_percent: float,
                         out: str | Path, masks_out: str | Path, previous_masks: str | None = None,
                         threads: int | None = None, schedule_round: tuple[int, int] = (1, 1)) -> dict:
    """One round of selection in every target image. RIPU RA labels (2k+1)^2 squares until
    `budget_percent` of each image's pixels; RIPU PA labels `ripu.pa_pixels_per_image` pixels per
    image in all (round r of R, schedule_round, takes its share of that count); ADA-MCU labels
    `budget_percent` of each image's pixels by adaptive sampling."""
    if strategy not in REGION_STRATEGIES:
        raise ValueError(f"unknown region strategy '{strategy}' (known: {', '.join(REGION_STRATEGIES)})")
    mode, unit = REGION_STRATEGIES[strategy]
    rcfg, mcfg = cfg["ripu"], cfg["mcu"]
    k = int(rcfg["k_ra"] if mode == "RA" else rcfg["k_pa"]) if mode != "MCU" else 0
    model, meta, rt = inference_model(cfg, checkpoint, threads)
    ds = open_dataset(cfg, target, "train", meta["label_space"], with_labels=False)
    sizes = ds.image_sizes()
    prev_h5 = None
    if previous_masks:
        prev_ids, prev, prev_h5 = read_masks(previous_masks)
        if prev_ids != ds.ids:
            raise ValueError(f"'{previous_masks}' does not list the target training images in order")
    fraction = budget_percent / 100.0
    # per image: PA takes a fixed pixel count, RA and MCU a fraction of the image
    r, rounds = schedule_round
    pa = int(rcfg["pa_pixels_per_image"])
    pa_budget = pa * r // rounds - pa * (r - 1) // rounds
    entries, total_budget, total_new, total_labelled = [], 0, 0, 0
    with atomic_path(masks_out) as tmp, h5py.File(tmp, "w") as h5:
        write_ids(h5, ds.ids)
        masks = create_planes(h5, "masks", sizes, "u1")
        h5.attrs.update(strategy=strategy, k=k, checkpoint=str(checkpoint))
        for idx, x, _ in iterate_images(ds, int(cfg["features"]["batch_size"]), False, f"{strategy} selection"):
            h, w = x.shape[-2:]  # a batch holds images of one size
            budget = pa_budget if mode == "PA" else budget_pixels(fraction, h * w)
            heads = model(rt.inputs(x), with_aux=(mode == "MCU"))
            prob = F.softmax(upsample(heads["logits"], (h, w)), 1).cpu().numpy()
            if mode == "MCU":
                prob_aux = F.softmax(upsample(heads["aux"], (h, w)), 1).cpu().numpy()
            for j, i in enumerate(idx):
                labelled = plane(prev, i).astype(bool) if prev_h5 is not None else np.zeros((h, w), bool)
                if mode == "MCU":
                    score = mcu_uncertainty(prob[j], prob_aux[j], float(mcfg["gamma"]))
                    rng = np.random.default_rng([int(cfg["seed"]), 13, i])
                    new = adaptive_sampling(score, budget, rng, float(mcfg["low_quantile"]),
                                            float(mcfg["decay"]), labelled, bool(mcfg["adaptive_sampling"]))
                    picks = [tuple(p) for p in np.argwhere(new)]
                else:
                    score = ripu_acquisition(prob[j], k, mode, rcfg["criterion"])
                    new, picks = greedy_picks(score, k, mode, budget, labelled)
                mask = labelled | new
                write_plane(masks, i, mask.astype(np.uint8))
                total_budget += budget
                total_new += int(new.sum())
                total_labelled += int(mask.sum())
                if mask.any():
                    entries.append({"id": ds.ids[i], "pixels": int(mask.sum()), "new_pixels": int(new.sum()),
                                    "picks": len(picks),
                                    "score": float(f"{float(np.mean([score[p] for p in picks])) if picks else 0.0:.9g}")})
    if prev_h5 is not None:
        prev_h5.close()
    sel = dict(strategy=strategy, unit=unit, seed=int(cfg["seed"]), k=k,
               budget_fraction=None if mode == "PA" else fraction,
               pool_images=len(ds), pool_pixels=int(sum(hh * ww for hh, ww in sizes)), budget_pixels=total_budget,
               pixels_labelled=total_new, pixels_labelled_total=total_labelled,
               mask_file=str(masks_out), selected=entries)
    write_selection(out, sel)
    return sel
