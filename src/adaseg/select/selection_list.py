"""The selection-list file every strategy writes, with budgets counted in labelled target pixels.

A list holds the strategy, the budget (fraction of the pool's pixels, and pixels), the pixels
actually labelled, and one entry per selected unit (image id, score, pixels). Written as JSON with
sorted keys and scores rounded to 9 significant digits, so a rerun with the same inputs and seed is
byte-identical.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import BudgetError, InputFileError
from ..io import read_json, write_json


def budget_pixels(fraction: float, pool_pixels: int) -> int:
    """The budget in pixels: `fraction` of a pool of `pool_pixels` (a BudgetError outside (0, 1])."""
    if not 0 < fraction <= 1:
        raise BudgetError(f"a selection budget of {100 * fraction:g}% of the pool is outside (0, 100]: "
                          "set the budget (percent of the target pool's pixels) between 0 and 100")
    return int(round(fraction * pool_pixels))


def take_images_in_order(order, pixels_per_image: np.ndarray, fraction: float) -> list[int]:
    """The images of `order`, in that order, until the pixel budget is reached; the last image
    may exceed it by less than one image."""
    budget = budget_pixels(fraction, int(np.sum(pixels_per_image)))
    chosen, used = [], 0
    for i in order:
        if used >= budget:
            break
        chosen.append(int(i))
        used += int(pixels_per_image[i])
    return chosen


def images_needed(pixels_per_image: np.ndarray, fraction: float) -> int:
    """The most images any pick order can need to reach the budget (smallest images first)."""
    budget = budget_pixels(fraction, int(np.sum(pixels_per_image)))
    cum = np.cumsum(np.sort(np.asarray(pixels_per_image)))
    return int(min(np.searchsorted(cum, budget) + 1, len(cum)))


def take_images_by_score(ids: list[str], scores: np.ndarray, pixels_per_image: np.ndarray,
                         fraction: float) -> list[int]:
    """The highest-scoring images (ties broken by id order) until the pixel budget is reached."""
    order = np.lexsort((np.arange(len(ids)), -np.asarray(scores, dtype=np.float64)))
    return take_images_in_order(order, pixels_per_image, fraction)


def make_selection(strategy: str, ids: list[str], scores: np.ndarray, pixels_per_image: np.ndarray,
                   chosen: list[int], fraction: float, seed: int, **extra) -> dict:
    pool = int(np.sum(pixels_per_image))
    return dict(
        strategy=strategy, unit="image", seed=int(seed), budget_fraction=float(fraction),
        pool_images=len(ids), pool_pixels=pool, budget_pixels=budget_pixels(fraction, pool),
        pixels_labelled=int(sum(int(pixels_per_image[i]) for i in chosen)),
        selected=[{"id": ids[i], "score": float(f"{float(scores[i]):.9g}"), "pixels": int(pixels_per_image[i])}
                  for i in chosen],
        **extra,
    )


MASKS_BESIDE = "the folder of this selection list"


def write_selection(path: str | Path, selection: dict) -> None:
    """Write a selection list. Its `mask_file` (region and pixel units) is stored relative to the
    list's own folder, so that the list names the masks written beside it wherever the results folder
    is moved, copied or read from (never a path relative to the working folder of the writer)."""
    if selection.get("mask_file"):
        mask = Path(selection["mask_file"]).resolve()
        selection = dict(selection, mask_file=os.path.relpath(mask, Path(path).resolve().parent),
                         mask_file_relative_to=MASKS_BESIDE)
    write_json(path, selection)


def read_selection(path: str | Path) -> dict:
    """A selection list, its `mask_file` resolved against the list's folder (see write_selection)."""
    sel = read_json(path)
    for key in ("strategy", "selected", "budget_pixels"):
        if key not in sel:
            raise InputFileError(f"'{path}' is not a selection list (no '{key}'); point to a selection.json "
                                 "written by adaseg select, select-regions or select-superpixels")
    mask = sel.get("mask_file")
    if mask:
        beside = Path(path).parent / Path(mask).name
        if sel.get("mask_file_relative_to") == MASKS_BESIDE:
            sel["mask_file"] = str(Path(path).parent / mask)
        elif not Path(mask).is_absolute() and beside.is_file():
            sel["mask_file"] = str(beside)   # a list written before 2026-12-08: relative to the writer's working folder
    return sel


def selected_ids(selection: dict) -> list[str]:
    return [s["id"] for s in selection["selected"]]
