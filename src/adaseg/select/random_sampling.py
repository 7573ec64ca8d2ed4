"""Random selection: every target image equally likely (MADA Table 4, 'Random')."""
from __future__ import annotations

import numpy as np


def random_scores(n: int, seed: int) -> np.ndarray:
    """A seeded random score per image; taking the top scores is uniform sampling without replacement."""
    return np.random.default_rng([seed, 7]).random(n)


# registry entries (src/adaseg/registry/strategies.py): f(inputs: select.run.ScoringInputs) -> (scores, extra)
def random_strategy(inputs):
    return random_scores(len(inputs.ids), inputs.seed), {}


def full_strategy(inputs):
    """Every target image (the fully supervised upper bound, run at budget 100)."""
    return np.zeros(len(inputs.ids)), {}
