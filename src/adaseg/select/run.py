"""Run one image-level selection strategy and write its selection list."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.datasets import open_dataset
from ..features import read_features
from ..io import save_npz
from .anchors import fit_anchors
from .mada import mada_scores
from .random_sampling import random_scores
from .selection_list import make_selection, take_images_by_score, write_selection

STRATEGIES = ("mada", "random", "full")


def run_selection(cfg: dict, strategy: str, target: str, budget_percent: float, out: str | Path,
                  source_features: str | None = None, target_features: str | None = None,
                  anchors_out: str | None = None) -> dict:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy '{strategy}' (known: {', '.join(STRATEGIES)})")
    if not 0 < budget_percent <= 100:
        raise ValueError(f"budget {budget_percent}% is outside (0, 100]: it cannot exceed the target pool")
    seed = int(cfg["seed"])
    ds = open_dataset(cfg, target, "train", with_labels=False)
    ids, pixels = ds.ids, ds.pixel_counts()
    extra = {}
    if strategy == "mada":
        if not (source_features and target_features):
            raise ValueError("mada selection needs --source-features and --target-features")
        tids, tvec = read_features(target_features)
        if tids != ids:
            raise ValueError(f"'{target_features}' does not list the images of {target}/train in order")
        _, svec = read_features(source_features)
        k = int(cfg["mada"]["source_anchors"])
        scores, anchors = mada_scores(svec, tvec, k, seed)
        if anchors_out:
            save_npz(anchors_out, anchors=anchors)
        extra["anchors"] = k
    elif strategy == "random":
        scores = random_scores(len(ids), seed)
    else:
        scores = np.zeros(len(ids))
    fraction = budget_percent / 100.0
    chosen = take_images_by_score(ids, scores, pixels, fraction)
    sel = make_selection(strategy, ids, scores, pixels, chosen, fraction, seed, **extra)
    write_selection(out, sel)
    return sel


def fit_target_anchors(cfg: dict, features: str, out: str | Path) -> None:
    """Initial target anchors of MADA stage 2: k-means on the target features of the stage-1 model."""
    _, vec = read_features(features)
    save_npz(out, anchors=fit_anchors(vec, int(cfg["mada"]["target_anchors"]), int(cfg["seed"])))
