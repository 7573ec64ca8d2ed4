"""Discriminator-based baselines (MADAv2 eqs. 17 and 18), with the AdaptSeg warm-up discriminator."""
from __future__ import annotations

import numpy as np


def adversarial_scores(source_prob: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """MADAv2 eq. 17: E_adv = (1 - f_D) / f_D, f_D = the discriminator's P(source) of the image."""
    p = np.clip(np.asarray(source_prob, dtype=np.float64), eps, 1.0)
    return (1.0 - p) / p


def aada_scores(source_prob: np.ndarray, mean_entropy: np.ndarray) -> np.ndarray:
    """MADAv2 eq. 18 (AADA): E_AADA = E_ent * E_adv."""
    return np.asarray(mean_entropy, dtype=np.float64) * adversarial_scores(source_prob)


# registry entries (src/adaseg/registry/strategies.py): f(inputs: select.run.ScoringInputs) -> (scores, extra)
def adversarial_strategy(inputs):
    return adversarial_scores(inputs.target("disc_source_prob")), {}


def aada_strategy(inputs):
    return aada_scores(inputs.target("disc_source_prob"), inputs.target("entropy")), {}
