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
from ..io import atomic_path, create_planes, plane, read_ids, write_ids, write_plane
from ..models import upsample
from ..train.common import inference_model
from .mcu import adaptive_sampling, mcu_uncertainty
from .ripu import greedy_picks, ripu_acquisition
from .selection_list import budget_pixels, write_selection

REGION_STRATEGIES = {"ripu_ra": ("RA", "region"), "ripu_pa": ("PA", "pixel"), "mcu": ("MCU", "pixel")}


def read_masks(path: str | Path) -> tuple[list[str], h5py.Dataset, h5py.File]:
    h5 = h5py.File(path, "r")
    ids = read_ids(h5)
    return ids, h5["masks"], h5


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


def _read_regions(path: str | Path) -> dict:
    with h5py.File(path, "r") as h5:
        out = {k: h5[k][:] for k in ("image", "segment", "pixels", "cls", "entropy", "feature", "valid")}
        out["ids"] = read_ids(h5)
        out["num_classes"] = int(h5.attrs["num_classes"])
    return out


def run_d2ada(cfg: dict, source_regions: str | None, target_regions: str, superpixels: str, round_k: int,
              budget_percent: float, out: str | Path, masks_out: str | Path, gmm_out: str | Path,
              previous_masks: str | None = None, strategy: str = "d2ada", source: str | None = None) -> dict:
    """One D2ADA round: GMM densities (fitted in-process and saved), pi scores, the eq. 6/7 budgets,
    region picks, and the cumulative label masks of every target training image.
    strategy='region_entropy' is the superpixel entropy baseline: no density budget, no GMMs.
    Eq. 7's alpha is d2ada.alpha_by_source[source] when given (the paper: 0.5 for SYNTHIA), else d2ada.alpha."""
    if strategy not in ("d2ada", "region_entropy"):
        raise ValueError(f"unknown superpixel strategy '{strategy}' (d2ada or region_entropy)")
    from ..io import save_npz
    from .d2ada import density_budget, density_scores, fit_class_gmm, select_regions

    dcfg, seed = cfg["d2ada"], int(cfg["seed"])
    if strategy == "d2ada" and not source_regions:
        raise ValueError("d2ada needs --source-regions (the source densities p_S)")
    src = _read_regions(source_regions) if strategy == "d2ada" else None
    tgt = _read_regions(target_regions)
    ncls = tgt["num_classes"]
    sp = h5py.File(superpixels, "r")
    segments = sp["segments"]
    if read_ids(sp) != tgt["ids"]:
        raise ValueError(f"'{superpixels}' and '{target_regions}' list different images")
    n_img = segments.shape[0]
    prev_set, prev_h5 = None, None
    if previous_masks:
        prev_ids, prev_set, prev_h5 = read_masks(previous_masks)
        if prev_ids != tgt["ids"]:
            raise ValueError(f"'{previous_masks}' does not list the target training images in order")

    def segments_of(i: int) -> np.ndarray:
        return plane(segments, i)

    def previous(i: int) -> np.ndarray:
        return plane(prev_set, i).astype(bool) if prev_set is not None else np.zeros(segments_of(i).shape, bool)

    # a region is labelled when all its pixels are (counted per image with bincount)
    labelled = np.zeros(len(tgt["image"]), bool)
    if prev_set is not None:
        order = np.argsort(tgt["image"], kind="stable")
        bounds = np.searchsorted(tgt["image"][order], np.arange(n_img + 1))
        for i in range(n_img):
            rows = order[bounds[i]:bounds[i + 1]]
            seg = segments_of(i).astype(np.int64)
            n = int(seg.max()) + 1
            done = np.bincount(seg[previous(i)], minlength=n) == np.bincount(seg.ravel(), minlength=n)
            labelled[rows] = done[tgt["segment"][rows]]
    gmms_s, gmms_t, params = {}, {}, {}
    for c in range(ncls if strategy == "d2ada" else 0):
        s_rows = (src["cls"] == c) & (src["valid"] > 0)
        t_rows = (tgt["cls"] == c) & (tgt["valid"] > 0) & ~labelled
        gmms_s[c] = fit_class_gmm(src["feature"][s_rows], seed)
        gmms_t[c] = fit_class_gmm(tgt["feature"][t_rows], seed)
        for dom, g in (("source", gmms_s[c]), ("target", gmms_t[c])):
            if g is not None:
                params.update({f"{dom}_{c}_weights": g.weights_, f"{dom}_{c}_means": g.means_,
                               f"{dom}_{c}_covariances": g.covariances_})
    pi = density_scores(tgt["feature"], tgt["cls"], gmms_t, gmms_s)
    pi[tgt["valid"] == 0] = -np.inf
    pool = int(sum(h * w for h, w in sp["sizes"][:])) if "sizes" in sp else n_img * int(np.prod(segments.shape[1:]))
    budget = budget_pixels(budget_percent / 100.0, pool)
    alpha = float((dcfg.get("alpha_by_source") or {}).get(source, dcfg["alpha"]))
    budget_d = density_budget(round_k, budget, alpha, float(dcfg["beta"])) if strategy == "d2ada" else 0
    chosen = select_regions(pi, tgt["entropy"], tgt["cls"], tgt["pixels"], labelled, ncls, budget, budget_d,
                            bool(dcfg["category_balance"]))
    save_npz(gmm_out, pi=pi, **params)
    new_px = 0
    per_image: dict[int, list[int]] = {}
    for r in chosen:
        per_image.setdefault(int(tgt["image"][r]), []).append(int(tgt["segment"][r]))
    entries = []
    with atomic_path(masks_out) as tmp, h5py.File(tmp, "w") as h5:
        write_ids(h5, tgt["ids"])
        masks = create_planes(h5, "masks", sp["sizes"][:] if "sizes" in sp else [segments.shape[1:]] * n_img, "u1")
        h5.attrs.update(strategy=strategy, round=round_k)
        for i in range(n_img):
            before = previous(i)
            new = np.isin(segments_of(i), per_image.get(i, [])) & ~before
            mask = before | new
            write_plane(masks, i, mask.astype(np.uint8))
            new_px += int(new.sum())
            if mask.any():
                entries.append({"id": tgt["ids"][i], "pixels": int(mask.sum()), "new_pixels": int(new.sum()),
                                "picks": len(per_image.get(i, [])), "score": 0.0})
    sp.close()
    if prev_h5 is not None:
        prev_h5.close()
    sel = dict(strategy=strategy, unit="region", seed=seed, round=round_k, budget_fraction=budget_percent / 100.0,
               pool_images=n_img, pool_pixels=pool, budget_pixels=budget, density_budget_pixels=budget_d,
               pixels_labelled=new_px, pixels_labelled_total=int(sum(e["pixels"] for e in entries)),
               regions=len(chosen), mask_file=str(masks_out), selected=entries)
    write_selection(out, sel)
    return sel
