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


# registry entries of the runner "model": random selection of a region or pixel unit in every image
def random_unit_picks(prob, prob_aux, budget: int, labelled, *, cfg: dict, options: dict, rng=None, truth=None):
    """One image's random picks of the unit in `options`: RIPU RA's (2k+1)^2 squares (mode RA, with
    its blocking), RIPU PA's pixels (mode PA, its radius and per-image budget) or single pixels (no
    mode: uniform without replacement, ADA-MCU's unit). The random score map is drawn from the
    runner's per-image generator (seeded by seed and image), so a rerun picks the same units."""
    from .ripu import greedy_picks, ripu_unit_options

    score = rng.random(prob.shape[1:])
    mode = options.get("mode")
    if mode is None:
        return _top_free_pixels(score, budget, labelled)
    new, picks = greedy_picks(score, int(cfg["ripu"][options["k"]]), mode, budget, labelled, **ripu_unit_options(cfg))
    return new, picks, score


def _top_free_pixels(score: np.ndarray, budget: int, labelled):
    free = ~labelled.astype(bool).ravel()
    idx = np.flatnonzero(free)
    take = idx[np.argsort(-score.ravel()[idx], kind="stable")[:budget]]
    new = np.zeros(score.size, bool)
    new[take] = True
    new = new.reshape(score.shape)
    return new, [tuple(p) for p in np.argwhere(new)], score
