"""Where a benchmark sits against the papers' regime, from the rows of a main table: how much of the
gap from the AdaptSeg warm-up to full supervision random selection recovers, how far full
supervision is above random, and how many classes full supervision learns at all.

In the papers (GTA5 -> Cityscapes, 5%): MADA Table 4 random 56.7 from a warm-up at 41.4 (MADA
Table 1) to 69.3 fully supervised (MADA Table 3 M(u)), i.e. random recovers about half of the gap,
and full supervision is 12.6 points above random with every class above 0. The proxy is calibrated to
recover at most 60%, to leave full supervision at least 8 points above random, and to learn at least
16 of 19 classes under full supervision (README "The proxy benchmark")."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

ROWS = ("adaptseg", "random", "fully_supervised")
TARGETS = {"recovered_at_most": 0.60, "full_above_random_at_least": 8.0, "classes_learnt_at_least": 16}


@dataclass(frozen=True)
class Regime:
    warmup: float
    random: float
    full: float
    classes_learnt: int      # classes with IoU > 0 under full supervision (mean over seeds)
    classes: int

    @property
    def recovered(self) -> float | None:
        """(random - warm-up) / (fully supervised - warm-up); None when full supervision is not above
        the warm-up (no gap to recover, e.g. a tiny test run)."""
        gap = self.full - self.warmup
        return (self.random - self.warmup) / gap if gap > 0 else None

    @property
    def full_above_random(self) -> float:
        return self.full - self.random

    def in_regime(self) -> bool:
        return (self.recovered is not None and self.recovered <= TARGETS["recovered_at_most"]
                and self.full_above_random >= TARGETS["full_above_random_at_least"]
                and self.classes_learnt >= TARGETS["classes_learnt_at_least"] * self.classes / 19)

    def sentence(self) -> str:
        gap = (f"random selection recovers {self.recovered:.0%} of the gap" if self.recovered is not None
               else "there is no gap to recover")
        return (f"Regime: {gap} from the AdaptSeg warm-up "
                f"({self.warmup:.1f}) to full supervision ({self.full:.1f}); full supervision is "
                f"{self.full_above_random:.1f} mIoU above random ({self.random:.1f}) and learns "
                f"{self.classes_learnt} of {self.classes} classes (IoU > 0). Papers (MADA Tables 1, 3, 4): about 50%, "
                "12.6 points, every class.")


def regime(df: pd.DataFrame, classes: list[str]) -> Regime | None:
    """The regime of a table frame (adaseg.report.tables.build_table) holding the warm-up, random
    and fully supervised rows; None if it lacks one of them."""
    rep = df[df["values"] != "published"].set_index("row")
    if not set(ROWS) <= set(rep.index):
        return None
    full = rep.loc["fully_supervised"]
    return Regime(float(rep.loc["adaptseg", "mIoU"]), float(rep.loc["random", "mIoU"]), float(full["mIoU"]),
                  int(sum(pd.notna(full[c]) and float(full[c]) > 0 for c in classes)), len(classes))
