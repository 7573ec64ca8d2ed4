"""Uncertainty baselines at image level: entropy (AdvEnt; MADAv2 eq. 16), softmax confidence and margin.

Scores are "higher = select first"; the per-image statistics come from the feature dump.
"""
from __future__ import annotations

import numpy as np


def entropy_scores(mean_entropy: np.ndarray) -> np.ndarray:
    """MADAv2 eq. 16 divided by the (equal) pixel count: the mean normalised pixel entropy."""
    return np.asarray(mean_entropy, dtype=np.float64)


def confidence_scores(mean_max_prob: np.ndarray) -> np.ndarray:
    """Least confident first: 1 - mean over pixels of max_c p_c."""
    return 1.0 - np.asarray(mean_max_prob, dtype=np.float64)


def margin_scores(mean_margin: np.ndarray) -> np.ndarray:
    """Smallest margin first: 1 - mean over pixels of (p_top1 - p_top2)."""
    return 1.0 - np.asarray(mean_margin, dtype=np.float64)


# registry entries (src/adaseg/registry/strategies.py): f(inputs: select.run.ScoringInputs) -> (scores, extra)
def entropy_strategy(inputs):
    return entropy_scores(inputs.target("entropy")), {}


def confidence_strategy(inputs):
    return confidence_scores(inputs.target("confidence")), {}


def margin_strategy(inputs):
    return margin_scores(inputs.target("margin")), {}
