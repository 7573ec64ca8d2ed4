"""The budget and input-file checks the selection runners share; each failure is one line naming the
file or config key, the numbers and what to change (adaseg.errors).

A budget reaches a runner as the CLI's --budget: for image-level selection the <budget> of the
selection path (results/<source>/select/s<seed>/<strategy>/<budget>/...; the tables use mada.budget), for
the multi-round runners each round's share of it, <budget> / multi_round.rounds.
"""
from __future__ import annotations

import math

from ..errors import BudgetError, InputFileError

PATH_BUDGET = "the <budget> of the selection path (--budget; the tables use mada.budget)"
CHAIN_BUDGET = "the chain's <budget> (each round's --budget is <budget> / multi_round.rounds)"


def percent_for(pixels: int, pool: int) -> float:
    """The smallest budget in percent of `pool`, at 3 significant digits, that is at least `pixels`
    pixels (as selection_list.budget_pixels rounds it)."""
    exact = 100.0 * pixels / pool
    scale = 10.0 ** (math.floor(math.log10(exact)) - 2)
    p = float(f"{math.ceil(exact / scale - 1e-9) * scale:.3g}")
    while int(round(p / 100.0 * pool)) < pixels:   # a float edge: one step up
        p = float(f"{p + scale:.3g}")
    return p


def check_percent(budget_percent: float, who: str, what: str, change: str) -> None:
    """A budget in (0, 100] percent of `what` (the pool, or each image), else a BudgetError."""
    if budget_percent > 100:
        raise BudgetError(f"{who}: a budget of {budget_percent:g}% of {what} is more than all of it; "
                          f"set {change} to at most 100")
    if not budget_percent > 0:
        raise BudgetError(f"{who}: a budget of {budget_percent:g}% of {what} selects nothing; set {change} above 0")


def differing_ids(got: list[str], want: list[str]) -> str:
    """How an id list differs from the expected one, for a one-line message."""
    if len(got) != len(want):
        return f"{len(got):,} images where the target has {len(want):,}"
    i = next(n for n, (a, b) in enumerate(zip(got, want)) if a != b)
    return f"image {i} is '{got[i]}' where the target has '{want[i]}'"


def foreign_masks(path: str, got: list[str], want: list[str], target: str, round_k: int,
                  rounds: int | None = None) -> InputFileError:
    """The error for a --previous-masks file that lists other images than the target pool."""
    earlier = (f"round{round_k - 1}of{rounds or '<R>'}" if round_k > 1 else "round<r-1>of<R>")
    return InputFileError(
        f"'{path}' is a foreign masks file: it does not list the {target} training images in order "
        f"({differing_ids(got, want)}); pass --previous-masks the masks.h5 of the previous round of this chain "
        f"(results/<source>/select/s<seed>/<strategy>/<budget>/<objective>/{earlier}/masks.h5)")
