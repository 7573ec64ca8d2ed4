"""Random selection: every target image equally likely (MADA Table 4, 'Random')."""
from __future__ import annotations

import numpy as np


def random_scores(n: int, seed: int) -> np.ndarray:
    """A seeded random score per image; taking the top scores is uniform sampling without replacement."""
    return np.random.default_rng([seed, 7]).random(n)
