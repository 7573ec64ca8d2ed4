"""Label encodings of GTA5, SYNTHIA and Cityscapes, and the maps to training ids.

The maps are the ones the official code of every method (MADA, RIPU, D2ADA, ADA-MCU) uses:
GTA5 and Cityscapes store Cityscapes *labelIds* (the 19 training classes are labelIds 7, 8, 11,
12, 13, 17, 19-28, 31-33; every other labelId is ignored); SYNTHIA-RAND-CITYSCAPES stores its own
ids in channel 0 of a 16-bit PNG and is trained and evaluated in a 16-class space (mIoU* drops
wall, fence and pole).
"""
from __future__ import annotations

from ..errors import DatasetError

import numpy as np

IGNORE = 255

CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "light", "sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
)
SYNTHIA16_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "light", "sign", "vegetation",
    "sky", "person", "rider", "car", "bus", "motorcycle", "bicycle",
)
# mIoU* of the SYNTHIA benchmark drops wall, fence and pole (13 classes).
SYNTHIA13_DROPPED = ("wall", "fence", "pole")

# Cityscapes labelId -> trainId (GTA5 uses the same labelIds).
LABELID_TO_TRAINID = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
    26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}
MAX_LABELID = 33  # labelIds 0..33 are defined by Cityscapes; anything else is not a labelId.

# SYNTHIA id -> 16-class trainId.
SYNTHIA_TO_TRAINID16 = {
    3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 1: 9, 10: 10, 17: 11, 8: 12, 19: 13,
    12: 14, 11: 15,
}
MAX_SYNTHIA_ID = 22  # SYNTHIA-RAND-CITYSCAPES defines ids 0..22.

# Cityscapes 19-class trainId -> SYNTHIA 16-class trainId (terrain, truck, train have none).
TRAINID19_TO_TRAINID16 = {
    0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 10: 9, 11: 10, 12: 11, 13: 12, 15: 13,
    17: 14, 18: 15,
}

# Inverse maps, used by the proxy generator to write files in the real encodings.
TRAINID_TO_LABELID = {t: l for l, t in LABELID_TO_TRAINID.items()}
TRAINID19_TO_SYNTHIA_ID = {
    0: 3, 1: 4, 2: 2, 3: 21, 4: 5, 5: 7, 6: 15, 7: 9, 8: 6, 9: 16, 10: 1, 11: 10, 12: 17, 13: 8,
    14: 18, 15: 19, 16: 20, 17: 12, 18: 11,
}

LABEL_SPACES = {"cityscapes19": CITYSCAPES_CLASSES, "synthia16": SYNTHIA16_CLASSES}


def lookup_table(mapping: dict[int, int], size: int = 65536) -> np.ndarray:
    """A dense table t with t[id] = mapped id, IGNORE for every id not in `mapping`."""
    table = np.full(size, IGNORE, dtype=np.uint8)
    for src, dst in mapping.items():
        table[src] = dst
    return table


_LABELID_TABLE = lookup_table(LABELID_TO_TRAINID)
_SYNTHIA_TABLE = lookup_table(SYNTHIA_TO_TRAINID16)
_19_TO_16_TABLE = lookup_table(TRAINID19_TO_TRAINID16, 256)


class LabelEncodingError(DatasetError, ValueError):
    """A label file holds ids that its dataset's encoding does not define."""


def _check_ids(ids: np.ndarray, max_id: int, name: str, encoding: str) -> None:
    bad = np.unique(ids[ids > max_id])
    if bad.size:
        raise LabelEncodingError(
            f"{name}: unknown {encoding} {bad[:10].tolist()} (valid: 0..{max_id}); "
            f"is this the right label file for this dataset?"
        )


def labelids_to_trainids(label: np.ndarray, name: str = "<array>") -> np.ndarray:
    """Cityscapes/GTA5 labelIds -> 19-class trainIds (others -> 255)."""
    _check_ids(label, MAX_LABELID, name, "Cityscapes labelIds")
    return _LABELID_TABLE[label.astype(np.int64)]


def synthia_to_trainids16(label: np.ndarray, name: str = "<array>") -> np.ndarray:
    """SYNTHIA ids (channel 0 of GT/LABELS) -> 16-class trainIds (others -> 255)."""
    _check_ids(label, MAX_SYNTHIA_ID, name, "SYNTHIA ids")
    return _SYNTHIA_TABLE[label.astype(np.int64)]


def trainids19_to_trainids16(label: np.ndarray) -> np.ndarray:
    """19-class trainIds -> SYNTHIA 16-class trainIds, to evaluate SYNTHIA-trained models."""
    return _19_TO_16_TABLE[label.astype(np.int64)]


def num_classes(label_space: str) -> int:
    return len(LABEL_SPACES[label_space])
