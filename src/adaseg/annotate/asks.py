"""What a selection round asks annotators for: per image, the pixels that need a label.

A region or pixel selection asks for the pixels of its masks.h5 (cumulative over a chain's rounds)
that the previous round did not have; an image selection asks for every pixel of its images.
A selection's masks are at the size images are read at (datasets.<name>.resize), where the model
chose them; an ask is at the image file's own size (nearest-neighbour), which is what annotators see,
and so are the label files and the labelled pixels (masks.h5) an annotation round writes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.datasets import SegmentationDataset, resize_nearest
from ..errors import InputFileError
from ..io import open_masks, plane
from ..select.selection_list import read_selection, selected_ids


@dataclass
class Ask:
    id: str
    index: int  # in the target dataset
    image: Path
    asked: np.ndarray  # bool, at the image file's size
    unit: str  # "image" or "region"

    @property
    def size(self) -> tuple[int, int]:
        return self.asked.shape


def mask_planes(path: str | None, ids: set[str]) -> dict[str, np.ndarray]:
    if not path:
        return {}
    with open_masks(path) as (mids, masks):
        return {s: plane(masks, r).astype(bool) for r, s in enumerate(mids) if s in ids}


def round_asks(ds: SegmentationDataset, selection: str, previous_masks: str | None = None) -> list[Ask]:
    """The asks of one selection round on target `ds`, in the selection's order. `previous_masks`
    is the masks.h5 of the chain's previous round (its pixels are labelled already)."""
    sel = read_selection(selection)
    pos = {s: i for i, s in enumerate(ds.ids)}
    ids = list(dict.fromkeys(selected_ids(sel)))
    unknown = [s for s in ids if s not in pos]
    if unknown:
        raise InputFileError(f"selection '{selection}' lists images {', '.join(unknown[:3])} that are not in the target "
                             f"dataset '{ds.root}' ({len(unknown)} of {len(ids)}): it was made for another target")
    asks = []
    if sel.get("mask_file"):
        current = mask_planes(sel["mask_file"], set(ids))
        previous = mask_planes(previous_masks, set(ids))
        for s in ids:
            if s not in current:
                raise InputFileError(f"masks file '{sel['mask_file']}' has no mask for image '{s}' of selection "
                                     f"'{selection}'; rerun the selection")
            # the previous round's labelled pixels are at the image file's size (annotated masks)
            new = current[s] & ~resize_nearest(previous[s], current[s].shape) if s in previous else current[s]
            if new.any():
                i = pos[s]
                asks.append(Ask(s, i, ds.samples[i].image, resize_nearest(new, ds.raw_size(i)), "region"))
    else:
        for s in ids:
            i = pos[s]
            asks.append(Ask(s, i, ds.samples[i].image, np.ones(ds.raw_size(i), dtype=bool), "image"))
    return asks
