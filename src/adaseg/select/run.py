"""Run one image-level selection strategy and write its selection list (and its scores)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.datasets import open_dataset
from ..io import read_features, save_npz
from .adversarial import aada_scores, adversarial_scores
from .anchors import dual_domain_distance, fit_anchors, prototype_distance
from .diversity import badge_kmeanspp, blockwise_order, clue, kcenter_greedy
from .mada import mada_scores
from .random_sampling import random_scores
from .selection_list import images_needed, make_selection, take_images_by_score, take_images_in_order, write_selection
from .uncertainty import confidence_scores, entropy_scores, margin_scores

# strategy -> (family, what it reads from the feature dumps)
IMAGE_STRATEGIES = {
    "random": ("random", ()),
    "full": ("all target labels", ()),
    "entropy": ("uncertainty", ("target:entropy",)),
    "confidence": ("uncertainty", ("target:confidence",)),
    "margin": ("uncertainty", ("target:margin",)),
    "adversarial": ("adversarial", ("target:disc_source_prob",)),
    "aada": ("adversarial", ("target:disc_source_prob", "target:entropy")),
    "mada": ("anchors", ("source:features", "target:features")),
    "madav2": ("anchors", ("source:features", "target:features")),
    "prototype": ("anchors", ("source:features", "target:features")),
    "coreset": ("diversity", ("source:pooled", "target:pooled")),
    "badge": ("diversity", ("target:grad_embedding",)),
    "clue": ("diversity", ("target:pooled", "target:entropy")),
}
FEATURE_FREE = tuple(s for s, (_, needs) in IMAGE_STRATEGIES.items() if not needs)
ORDER_BASED = ("coreset", "badge", "clue")


def _read(path: str | None, name: str, ids: list[str] | None = None) -> np.ndarray:
    if not path:
        raise ValueError(f"this strategy needs the feature dump holding '{name}'")
    got_ids, arr = read_features(path, name)
    if ids is not None and got_ids != ids:
        raise ValueError(f"'{path}' does not list the target training images in order")
    return arr[:, 0] if arr.shape[1] == 1 else arr


def strategy_scores(strategy: str, cfg: dict, ids: list[str], n_needed: int,
                    source_features: str | None, target_features: str | None) -> tuple[np.ndarray, dict]:
    """(scores, extra arrays): higher score = picked first. Order-based strategies score their
    picks n, n-1, ..., 1 in pick order and everything else 0."""
    seed = int(cfg["seed"])
    k = int(cfg["mada"]["source_anchors"])

    def tgt(name):
        return _read(target_features, name, ids)

    def src(name):
        return _read(source_features, name)

    extra: dict = {}
    if strategy == "random":
        return random_scores(len(ids), seed), extra
    if strategy == "full":
        return np.zeros(len(ids)), extra
    if strategy == "entropy":
        return entropy_scores(tgt("entropy")), extra
    if strategy == "confidence":
        return confidence_scores(tgt("confidence")), extra
    if strategy == "margin":
        return margin_scores(tgt("margin")), extra
    if strategy == "adversarial":
        return adversarial_scores(tgt("disc_source_prob")), extra
    if strategy == "aada":
        return aada_scores(tgt("disc_source_prob"), tgt("entropy")), extra
    if strategy == "mada":
        # the source rows are read for k-means alone: let it centre them in place (no copy)
        scores, anchors = mada_scores(src("features"), tgt("features"), k, seed, copy_source=False)
        return scores, {"source_anchors": anchors}
    if strategy == "madav2":
        tv = tgt("features")
        source_anchors = fit_anchors(src("features"), k, seed, copy=False)
        target_anchors = fit_anchors(tv, int(cfg["mada"]["target_anchors"]), seed)
        return dual_domain_distance(tv, source_anchors, target_anchors), {
            "source_anchors": source_anchors, "target_anchors": target_anchors}
    if strategy == "prototype":
        return prototype_distance(tgt("features"), src("features")), extra
    block = (cfg.get("diversity") or {}).get("block_size")
    if strategy == "coreset":
        pool, labelled = tgt("pooled"), src("pooled")
        if block is not None and len(labelled) > block:  # linear variant: a seeded source subsample
            labelled = labelled[np.sort(np.random.default_rng([seed, 29]).choice(len(labelled), block, replace=False))]
        order = blockwise_order(len(ids), n_needed, block, seed,
                                lambda idx, n: idx[kcenter_greedy(pool[idx], n, labelled=labelled)])
    elif strategy == "badge":
        g = tgt("grad_embedding")
        order = blockwise_order(len(ids), n_needed, block, seed, lambda idx, n: idx[badge_kmeanspp(g[idx], n, seed)])
    elif strategy == "clue":
        x, u = tgt("pooled"), tgt("entropy")
        order = blockwise_order(len(ids), n_needed, block, seed, lambda idx, n: idx[clue(x[idx], u[idx], n, seed)])
    else:
        raise ValueError(f"unknown strategy '{strategy}' (known: {', '.join(IMAGE_STRATEGIES)})")
    scores = np.zeros(len(ids))
    scores[order] = np.arange(len(order), 0, -1)
    return scores, extra


def run_selection(cfg: dict, strategy: str, target: str, budget_percent: float, out: str | Path,
                  source_features: str | None = None, target_features: str | None = None,
                  scores_out: str | None = None) -> dict:
    if strategy not in IMAGE_STRATEGIES:
        raise ValueError(f"unknown strategy '{strategy}' (known: {', '.join(IMAGE_STRATEGIES)})")
    if not 0 < budget_percent <= 100:
        raise ValueError(f"budget {budget_percent}% is outside (0, 100]: it cannot exceed the target pool")
    ds = open_dataset(cfg, target, "train", with_labels=False)
    ids, pixels = ds.ids, ds.pixel_counts()
    fraction = budget_percent / 100.0
    scores, extra = strategy_scores(strategy, cfg, ids, images_needed(pixels, fraction),
                                    source_features, target_features)
    if strategy in ORDER_BASED:
        order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > 0]
        chosen = take_images_in_order(order, pixels, fraction)
    else:
        chosen = take_images_by_score(ids, scores, pixels, fraction)
    family = IMAGE_STRATEGIES[strategy][0]
    sel = make_selection(strategy, ids, scores, pixels, chosen, fraction, int(cfg["seed"]), family=family)
    write_selection(out, sel)
    if scores_out:
        save_npz(scores_out, scores=scores, **extra)
    return sel


def fit_target_anchors(cfg: dict, features: str, out: str | Path) -> None:
    """Initial target anchors of MADA stage 2: k-means on the target features of the stage-1 model."""
    _, vec = read_features(features)
    save_npz(out, anchors=fit_anchors(vec, int(cfg["mada"]["target_anchors"]), int(cfg["seed"]), copy=False))
