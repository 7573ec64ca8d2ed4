"""The one place that names every selection strategy, fine-tuning objective, table and figure.

The Snakefile and rules (wildcard constraints, table and figure inputs), the CLI's choices, the
selection runners and the table and figure writers all read these entries; no strategy, objective,
table or figure name is written anywhere else. Entries are plain dataclasses; the code that does
the work is named by a "module:function" string and imported only when it runs, so reading the
registry (every Snakemake parse) imports neither torch nor scikit-learn.

Adding a selection strategy is one `Strategy` entry in `STRATEGIES` plus its scoring function
(README, "Adding a strategy").
"""
from __future__ import annotations

from .objectives import OBJECTIVES, Objective, objective
from .strategies import STRATEGIES, Strategy, strategies_run_by, strategy
from .runs import Scale, run_path, split_run
from .tables import TABLES, Row, Table, table
from .figures import FIGURES, Figure, figure

__all__ = ["OBJECTIVES", "Objective", "objective", "STRATEGIES", "Strategy", "strategies_run_by", "strategy",
           "Scale", "run_path", "split_run", "TABLES", "Row", "Table", "table", "FIGURES", "Figure", "figure"]
