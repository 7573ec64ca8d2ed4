"""Numbers published in the papers, for the 'published' columns of the tables. Nothing here is
ever mixed into a reproduced value; every entry names its paper and table."""
from __future__ import annotations

from ..data.labels import CITYSCAPES_CLASSES

MADA = "MADA (Ning et al., ICCV'21)"


def _row(values: str) -> dict:
    nums = [float(v) for v in values.split()]
    assert len(nums) == len(CITYSCAPES_CLASSES) + 1
    return {"iou": dict(zip(CITYSCAPES_CLASSES, nums[:-1])), "miou": nums[-1]}


# GTA5 -> Cityscapes, DeepLabV3+ ResNet-101, 5% of target images, mIoU on Cityscapes val.
PUBLISHED_GTA = {
    "adaptseg": dict(_row("86.5 25.9 79.8 22.1 20.0 23.6 33.1 21.8 81.8 25.9 75.9 57.3 26.2 76.3 29.8 32.1 7.2 29.5 32.5 41.4"),
                     reference=f"{MADA}, Table 1 (AdaptSeg)"),
    "random": dict(_row("92.8 64.5 85.8 38.0 34.8 43.7 50.1 56.9 87.9 40.4 87.7 69.0 30.8 89.4 51.1 43.8 21.7 29.9 59.4 56.7"),
                   reference=f"{MADA}, Table 4 (Random)"),
    "mada_stage1": dict(_row("92.4 61.4 87.4 39.5 45.9 45.2 50.6 57.5 87.8 42.4 89.2 72.7 44.9 90.0 54.7 50.5 43.4 47.8 66.9 61.6"),
                        reference=f"{MADA}, Table 4 (Proposed) = Table 3 M(1)"),
    "mada_full": dict(_row("95.1 69.8 88.5 43.3 48.7 45.7 53.3 59.2 89.1 46.7 91.5 73.9 50.1 91.2 60.6 56.9 48.4 51.6 68.7 64.9"),
                      reference=f"{MADA}, Table 1 (MADA) = Table 3 M(4)"),
    "fully_supervised": dict(iou=None, miou=69.3, reference=f"{MADA}, Table 3 M(u)"),
    "warmup_m0": dict(iou=None, miou=42.5, reference=f"{MADA}, Table 3 M(0)"),
}
