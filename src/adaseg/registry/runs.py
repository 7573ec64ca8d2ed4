"""Run paths: every fine-tuned model is round r of a chain of R rounds (a single-round run is round
1 of 1) at one seed, named `finetune/s<seed>/<strategy>/<budget>/<objective>/round<r>of<R>` under
results/<source>/; its selection is `select/s<seed>/<strategy>/<budget>/<objective>/round<r>of<R>/`.
Warm-ups are `warmup/s<seed>/<kind>`: one shared by every seed (trained with the first of `seeds`)
unless `warmup.per_seed`. The budget is the total percentage of the chain; each round takes
budget / R. A strategy or objective may carry a variant after '+' (src/adaseg/ablations.py).

Templates hold placeholders: '{budget}' (mada.budget), '{rounds}' (multi_round.rounds), '{seed}'
(the run's seed) and '{wseed}' (the seed of the warm-up that run starts from)."""
from __future__ import annotations

import re
from dataclasses import dataclass

WARMUP = "warmup/s{wseed}/adaptseg"          # MADA Algorithm 1, step 1: the model every chain selects with first
SOURCE_ONLY = "warmup/s{wseed}/source_only"
WARMUP_KINDS = ("source_only", "adaptseg")
RUN = re.compile(r"finetune/s(?P<seed>[0-9]+)/(?P<strategy>[^/]+)/(?P<budget>[0-9.]+)/(?P<objective>[^/]+)/"
                 r"round(?P<round>[1-9][0-9]*)of(?P<rounds>[1-9][0-9]*)")
WARMUP_RUN = re.compile(r"warmup/s(?P<seed>[0-9]+)/(?P<kind>[a-z_]+)")


class _Keep(dict):
    """str.format_map mapping that leaves unknown placeholders as they are."""

    def __missing__(self, key):
        return "{" + key + "}"


@dataclass(frozen=True)
class Scale:
    """The config values that table rows and figure inputs are written with."""
    budget: str                 # mada.budget, as in paths ('5')
    rounds: int                 # multi_round.rounds of the multi-round methods
    budgets: tuple[str, ...]    # figures.budgets (budget sweeps)
    anchors: tuple[int, ...]    # figures.anchor_counts (anchor sweeps)
    seeds: tuple[int, ...] = (0,)       # seeds: every run is repeated at each
    warmup_per_seed: bool = False       # warmup.per_seed: a warm-up per seed (else one, at seeds[0])

    @classmethod
    def from_config(cls, cfg: dict) -> "Scale":
        fig = cfg.get("figures") or {}
        return cls(budget=f"{float(cfg['mada']['budget']):g}", rounds=int((cfg.get("multi_round") or {}).get("rounds", 5)),
                   budgets=tuple(f"{float(b):g}" for b in fig.get("budgets", [])),
                   anchors=tuple(int(k) for k in fig.get("anchor_counts", [])),
                   seeds=tuple(int(s) for s in cfg.get("seeds", [0])),
                   warmup_per_seed=bool((cfg.get("warmup") or {}).get("per_seed", False)))

    def fill(self, text: str) -> str:
        """'{budget}' and '{rounds}' filled; '{seed}' and '{wseed}' kept for `at_seed`."""
        return text.format_map(_Keep(budget=self.budget, rounds=self.rounds))

    def warmup_seed(self, seed: int) -> int:
        """The seed of the warm-up the runs of `seed` start from."""
        return int(seed) if self.warmup_per_seed else self.seeds[0]

    def at_seed(self, template: str, seed: int) -> str:
        """`template` for the run at `seed`."""
        return self.fill(template).format_map(_Keep(seed=int(seed), wseed=self.warmup_seed(seed)))

    def seeded(self, template: str) -> list[tuple[int, str]]:
        """(seed, path) of every distinct run of `template` over the seeds: one per seed, or one in
        all for a shared warm-up."""
        out: dict[str, int] = {}
        for s in self.seeds:
            out.setdefault(self.at_seed(template, s), s)
        return [(s, path) for path, s in out.items()]


def run_path(strategy: str, budget: str = "{budget}", objective: str = "stage1", round: int | str = 1,
             rounds: int | str = 1, seed: int | str = "{seed}") -> str:
    """finetune/s<seed>/<strategy>/<budget>/<objective>/round<r>of<R> (placeholders allowed)."""
    return f"finetune/s{seed}/{strategy}/{budget}/{objective}/round{round}of{rounds}"


def chain(strategy: str, objective: str, budget: str = "{budget}", round: int | str = "{rounds}") -> str:
    """Round `round` (default the last) of a chain of multi_round.rounds rounds."""
    return run_path(strategy, budget, objective, round, "{rounds}")


def split_run(model: str) -> dict | None:
    """'finetune/s0/mada/5/stage2/round1of1' -> its parts (strings); None for a warm-up model."""
    m = RUN.fullmatch(model)
    return m.groupdict() if m else None


def seed_of(model: str) -> int:
    """The seed of a model path (a fine-tuned run or a warm-up)."""
    m = RUN.fullmatch(model) or WARMUP_RUN.fullmatch(model)
    if m is None:
        raise ValueError(f"'{model}' is not a model path (finetune/s<seed>/... or warmup/s<seed>/<kind>)")
    return int(m["seed"])
