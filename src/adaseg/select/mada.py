"""MADA active selection (Ning et al., ICCV'21, Sec. 3.2): target images far from every source anchor."""
from __future__ import annotations

import numpy as np

from .anchors import distance_to_anchors, fit_anchors, kmeans_setting


def mada_scores(source_vectors: np.ndarray, target_vectors: np.ndarray, k: int, seed: int,
                copy_source: bool = True, kmeans: str = "official"):
    """(scores, anchors): score of a target image = min over the K source anchors of the mean
    squared distance (eq. 5); the highest scores are selected. copy_source=False: k-means may
    centre the source vectors in place (see fit_anchors), for a caller that drops them. kmeans:
    `mada.kmeans` (see fit_anchors)."""
    anchors = fit_anchors(source_vectors, k, seed, copy=copy_source, kmeans=kmeans)
    return distance_to_anchors(target_vectors, anchors), anchors


def mada_strategy(inputs):
    """Registry entry (src/adaseg/registry/strategies.py): MADA's scores and its source anchors. The
    source rows are read for k-means alone: it may centre them in place (no copy)."""
    scores, anchors = mada_scores(inputs.source("features"), inputs.target("features"), inputs.source_anchors,
                                  inputs.seed, copy_source=False, kmeans=kmeans_setting(inputs))
    return scores, {"source_anchors": anchors}
