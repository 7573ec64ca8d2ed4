"""Summaries over seeds: mean and sample standard deviation, and the paired-t interval of a
difference (each method against random at the same seed, so the seed's shared warm-up, data order
and initial heads cancel out)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95  # the confidence level of every interval in the tables


@dataclass(frozen=True)
class Summary:
    mean: float
    std: float | None     # sample standard deviation (ddof 1); None for one value
    n: int


@dataclass(frozen=True)
class Difference:
    mean: float           # mean of the paired differences
    low: float | None     # the paired-t interval at LEVEL; None with fewer than 2 pairs
    high: float | None
    n: int                # pairs

    @property
    def significant(self) -> bool | None:
        """Whether the interval excludes 0 (None: no interval)."""
        if self.low is None:
            return None
        return not (self.low <= 0.0 <= self.high)


def summarize(values) -> Summary:
    v = np.asarray(list(values), np.float64)
    if v.size == 0:
        raise ValueError("no values to summarize")
    return Summary(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else None, int(v.size))


def paired_difference(a: dict[int, float], b: dict[int, float], level: float = LEVEL) -> Difference | None:
    """a - b over the seeds both have: mean d and mean(d) +- t_{(1+level)/2, n-1} * sd(d) / sqrt(n)
    (Student's t for paired samples). None when no seed is shared."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    d = np.array([a[s] - b[s] for s in seeds], np.float64)
    if d.size < 2:
        return Difference(float(d.mean()), None, None, int(d.size))
    half = float(stats.t.ppf((1 + level) / 2, d.size - 1)) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return Difference(float(d.mean()), float(d.mean() - half), float(d.mean() + half), int(d.size))
