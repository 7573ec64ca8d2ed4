"""Run paths: every fine-tuned model is round r of a chain of R rounds (a single-round run is round
1 of 1), named `finetune/<strategy>/<budget>/<objective>/round<r>of<R>` under results/<source>/;
its selection is `select/<strategy>/<budget>/<objective>/round<r>of<R>/`. The budget is the total
percentage of the chain; each round takes budget / R. A strategy or objective may carry a variant
after '+' (src/adaseg/ablations.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass

WARMUP = "warmup/adaptseg"          # MADA Algorithm 1, step 1: the model every chain selects with first
SOURCE_ONLY = "warmup/source_only"
WARMUP_KINDS = ("source_only", "adaptseg")
RUN = re.compile(r"finetune/(?P<strategy>[^/]+)/(?P<budget>[0-9.]+)/(?P<objective>[^/]+)/"
                 r"round(?P<round>[1-9][0-9]*)of(?P<rounds>[1-9][0-9]*)")


@dataclass(frozen=True)
class Scale:
    """The config values that table rows and figure inputs are written with."""
    budget: str                 # mada.budget, as in paths ('5')
    rounds: int                 # multi_round.rounds of the multi-round methods
    budgets: tuple[str, ...]    # figures.budgets (budget sweeps)
    anchors: tuple[int, ...]    # figures.anchor_counts (anchor sweeps)

    @classmethod
    def from_config(cls, cfg: dict) -> "Scale":
        fig = cfg.get("figures") or {}
        return cls(budget=f"{float(cfg['mada']['budget']):g}", rounds=int((cfg.get("multi_round") or {}).get("rounds", 5)),
                   budgets=tuple(f"{float(b):g}" for b in fig.get("budgets", [])),
                   anchors=tuple(int(k) for k in fig.get("anchor_counts", [])))

    def fill(self, text: str) -> str:
        return text.format(budget=self.budget, rounds=self.rounds)


def run_path(strategy: str, budget: str = "{budget}", objective: str = "stage1", round: int | str = 1,
             rounds: int | str = 1) -> str:
    """finetune/<strategy>/<budget>/<objective>/round<r>of<R> (placeholders '{budget}', '{rounds}' allowed)."""
    return f"finetune/{strategy}/{budget}/{objective}/round{round}of{rounds}"


def chain(strategy: str, objective: str, budget: str = "{budget}", round: int | str = "{rounds}") -> str:
    """Round `round` (default the last) of a chain of multi_round.rounds rounds."""
    return run_path(strategy, budget, objective, round, "{rounds}")


def split_run(model: str) -> dict | None:
    """'finetune/mada/5/stage2/round1of1' -> its parts (strings); None for a warm-up model."""
    m = RUN.fullmatch(model)
    return m.groupdict() if m else None
