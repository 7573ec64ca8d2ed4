"""Run one image-level selection strategy (src/adaseg/registry/strategies.py, runner "image") and
write its selection list and its scores."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.datasets import open_dataset
from ..errors import BudgetError, InputFileError
from ..io import read_features, save_npz
from ..registry import strategy as registered_strategy
from .anchors import fit_anchors
from .checks import PATH_BUDGET, check_percent, differing_ids, percent_for
from .selection_list import (budget_pixels, images_needed, make_selection, take_images_by_score, take_images_in_order,
                             write_selection)


def _features_rule(flag: str) -> str:
    """The rule (and command) that writes the dump passed as `flag`."""
    return f"rule features (adaseg features --mode {flag[2:].split('-')[0]} --checkpoint <warm-up>)"


@dataclass
class ScoringInputs:
    """What an image-level scoring function gets: the target training ids, how many images the
    budget needs, the settings it may use and readers of the warm-up feature dumps."""
    ids: list[str]
    n_needed: int
    seed: int
    source_anchors: int          # mada.source_anchors
    target_anchors: int          # mada.target_anchors
    block_size: int | None       # diversity.block_size
    kmeans: str = "official"     # mada.kmeans (src/adaseg/select/anchors.py)
    source_features: str | None = None
    target_features: str | None = None

    def target(self, name: str) -> np.ndarray:
        """Field `name` of the target dump, one row per target training image in order."""
        return _read(self.target_features, name, self.ids, "--target-features")

    def source(self, name: str) -> np.ndarray:
        return _read(self.source_features, name, None, "--source-features")


def _read(path: str | None, name: str, ids: list[str] | None = None, flag: str = "--target-features") -> np.ndarray:
    if not path:
        raise InputFileError(f"this strategy reads '{name}' of a feature dump but no {flag} was given; "
                             f"pass the dump that {_features_rule(flag)} writes")
    got_ids, arr = read_features(path, name)   # a missing field or damaged dump: InputFileError
    if ids is not None and got_ids != ids:
        raise InputFileError(f"feature dump '{path}' does not list the {len(ids):,} target training images in order "
                             f"({differing_ids(got_ids, ids)}); rebuild it for this target with "
                             f"{_features_rule(flag)}")
    return arr[:, 0] if arr.shape[1] == 1 else arr


def strategy_scores(name: str, cfg: dict, ids: list[str], n_needed: int,
                    source_features: str | None, target_features: str | None) -> tuple[np.ndarray, dict]:
    """(scores, extra arrays) of strategy `name`: higher score = picked first. Order-based
    strategies score their picks n, n-1, ..., 1 in pick order and everything else 0."""
    s = registered_strategy(name)
    if s.runner != "image":
        raise ValueError(f"'{name}' is not an image-level strategy (it is run by the {s.runner} runner)")
    inputs = ScoringInputs(ids=ids, n_needed=n_needed, seed=int(cfg["seed"]),
                           source_anchors=int(cfg["mada"]["source_anchors"]),
                           target_anchors=int(cfg["mada"]["target_anchors"]),
                           block_size=(cfg.get("diversity") or {}).get("block_size"),
                           kmeans=cfg["mada"].get("kmeans", "official"),
                           source_features=source_features, target_features=target_features)
    return s.scorer()(inputs)


def run_selection(cfg: dict, *, strategy: str, target: str, budget_percent: float, out: str | Path,
                  source_features: str | None = None, target_features: str | None = None,
                  scores_out: str | None = None) -> dict:
    s = registered_strategy(strategy)
    check_percent(budget_percent, f"{s.name} selection '{out}'", f"the {target} training pixels", PATH_BUDGET)
    ds = open_dataset(cfg, target, "train", with_labels=False)
    ids, pixels = ds.ids, ds.pixel_counts()
    fraction = budget_percent / 100.0
    pool = int(np.sum(pixels))
    if budget_pixels(fraction, pool) == 0:   # take_images_in_order takes an image while under the budget
        raise BudgetError(f"'{out}': a budget of {budget_percent:g}% is 0 of the {pool:,} px of the {target} training "
                          f"pool, so {s.name} would select no image; set {PATH_BUDGET} to at least "
                          f"{percent_for(1, pool):g} (one image)")
    scores, extra = strategy_scores(s.name, cfg, ids, images_needed(pixels, fraction), source_features, target_features)
    if s.order_based:
        order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > 0]
        chosen = take_images_in_order(order, pixels, fraction)
    else:
        chosen = take_images_by_score(ids, scores, pixels, fraction)
    sel = make_selection(s.name, ids, scores, pixels, chosen, fraction, int(cfg["seed"]), family=s.family)
    write_selection(out, sel)
    if scores_out:
        save_npz(scores_out, scores=scores, **extra)
    return sel


def fit_target_anchors(cfg: dict, features: str, out: str | Path) -> None:
    """Initial target anchors of MADA stage 2: k-means on the target features of the stage-1 model."""
    _, vec = read_features(features)
    save_npz(out, anchors=fit_anchors(vec, int(cfg["mada"]["target_anchors"]), int(cfg["seed"]), copy=False,
                                      kmeans=cfg["mada"].get("kmeans", "official")))
