"""Numbers published in the papers, for the 'published' columns of the tables. Nothing here is
ever mixed into a reproduced value; every entry names its paper and table."""
from __future__ import annotations

from ..data.labels import CITYSCAPES_CLASSES

MADA = "MADA (Ning et al., ICCV'21)"
MADAV2 = "MADAv2 (Ning et al., TPAMI)"


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

# MADAv2 Table 3: selection strategies, 5% of target images, source + active CE only (as printed;
# the MADAv2 row's per-class values do not average to its mIoU in the paper).
PUBLISHED_GTA.update({
    "madav2_t3_random": dict(_row("94.8 71.0 86.6 39.0 43.5 47.1 55.2 59.1 88.7 43.5 87.1 72.2 35.8 90.1 51.1 49.6 29.8 50.1 66.2 61.1"),
                             reference=f"{MADAV2}, Table 3 (Random)"),
    "madav2_t3_adversarial": dict(_row("93.2 65.3 86.9 38.5 47.8 48.3 55.0 56.2 89.3 46.5 90.5 71.9 42.5 90.6 50.5 47.4 41.7 41.0 66.1 61.5"),
                                  reference=f"{MADAV2}, Table 3 (Adversarial)"),
    "madav2_t3_entropy": dict(_row("94.7 68.2 87.8 44.4 47.5 46.7 49.9 57.5 89.4 48.5 90.9 72.8 43.4 90.7 54.6 49.4 30.3 51.6 66.4 62.4"),
                              reference=f"{MADAV2}, Table 3 (Entropy)"),
    "madav2_t3_aada": dict(_row("94.1 66.7 87.7 43.0 49.9 49.4 54.8 59.8 89.3 47.8 89.7 72.5 43.0 90.7 51.8 48.4 41.8 41.5 66.3 62.5"),
                           reference=f"{MADAV2}, Table 3 (AADA)"),
    "madav2_t3_prototype": dict(_row("95.6 71.5 87.9 36.6 47.6 49.4 53.5 60.9 88.5 48.9 91.0 74.1 48.4 91.3 51.7 57.4 22.5 52.4 68.9 63.1"),
                                reference=f"{MADAV2}, Table 3 (Prototype)"),
    "madav2_t3_mada": dict(_row("93.5 66.7 86.8 31.5 46.3 50.4 57.5 62.5 88.8 43.4 91.2 75.6 51.8 91.2 59.0 58.4 41.5 54.5 70.0 64.2"),
                           reference=f"{MADAV2}, Table 3 (MADA)"),
    "madav2_t3_madav2": dict(_row("97.4 79.8 90.3 46.6 52.5 54.3 62.3 71.7 91.2 50.2 94.0 77.8 56.8 93.2 74.7 80.3 52.4 57.5 73.6 65.1"),
                             reference=f"{MADAV2}, Table 3 (MADAv2)"),
})
