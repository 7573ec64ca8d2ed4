"""The papers' figures: what each draws (kind, title, axes, published curve) and the files it reads.

`items(scale)` lists (key, path template) inputs, paths under results/<source>/ with '{seed}' and
'{wseed}' left to `inputs(scale)`, which repeats a curve's points at every seed; keys by kind
(src/adaseg/report/figures.py draws them): curves 'series|x' -> evaluation file; t-SNE 'features',
'selection:<label>' / 'scores:<label>'; regions and class_frequency 'masks:<label>' (or
'selection:<label>' for an image-level list); qualitative 'model:<label>' -> checkpoint; training
'<label>' or '<label>|<part>' -> training-curve CSV (the parts of a label, a chain's rounds, are
drawn as one curve).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..ablations import sweep_variant
from ._resolve import lookup
from .runs import SOURCE_ONLY, WARMUP, Scale, run_path


@dataclass(frozen=True)
class Figure:
    name: str
    kind: str                      # curve | tsne | regions | class_frequency | qualitative | training
    title: str
    items: Callable[[Scale], list[tuple[str, str]]]
    xlabel: str = ""
    logx: bool = False
    published: str | None = None   # a curve of src/adaseg/report/published.py PUBLISHED_CURVES
    source: str = "gta5"

    def inputs(self, scale: Scale) -> list[tuple[str, str]]:
        """(key, path) inputs at this scale: a curve's points at every seed (the key repeated, drawn
        as mean and a band of one standard deviation); the other kinds show the runs of the first seed."""
        if self.kind == "curve":
            return [(key, path) for key, template in self.items(scale) for _, path in scale.seeded(template)]
        return [(key, scale.at_seed(template, scale.seeds[0])) for key, template in self.items(scale)]


def _eval(run: str) -> str:
    return f"eval/{run}.json"


def _select(run: str) -> str:
    """The selection folder of a run: select/<strategy>/<budget>/<objective>/round<r>of<R>."""
    return "select/" + run[len("finetune/"):]


def _anchor_sweep(strategy: str, objective: str):
    """mIoU against the number of source / target anchors (figures.anchor_counts) of one method."""
    def items(s: Scale):
        return [(f"{label}|{k}", _eval(run_path(f"{strategy}+{sweep_variant(sweep, k)}", s.budget, objective)))
                for sweep, label in [("src_anchors", "source anchors (a)"), ("tgt_anchors", "target anchors (b)")]
                for k in s.anchors]
    return items


def _round_curves(s: Scale):
    """mIoU after every round of the budget's chains: round r has budget * r / rounds labelled."""
    return [(f"{label}|{float(s.budget) * r / s.rounds:g}", _eval(run_path(strategy, s.budget, "stage1", r, s.rounds)))
            for strategy, label in [("d2ada", "ADeADA (d2ada)"), ("region_entropy", "ENT (region_entropy)")]
            for r in range(1, s.rounds + 1)]


def _budget_curves(s: Scale):
    return [(f"{strategy}|{b}", _eval(run_path(strategy, b))) for strategy in ["random", "mada", "madav2"]
            for b in s.budgets] + [("fully supervised|100", _eval(run_path("full", "100")))]


def _tsne(s: Scale):
    mada, madav2 = _select(run_path("mada", s.budget)), _select(run_path("madav2", s.budget))
    return [("features", f"features/{WARMUP}/target.h5"),
            ("selection:(a) MADA", f"{mada}/selection.json"), ("scores:(a) MADA", f"{mada}/scores.npz"),
            ("selection:(b) MADAv2", f"{madav2}/selection.json"), ("scores:(b) MADAv2", f"{madav2}/scores.npz")]


def _masks(strategy: str, objective: str, budget: str, s: Scale) -> str:
    return f"{_select(run_path(strategy, budget, objective, s.rounds, s.rounds))}/masks.h5"


def _ripu_regions(s: Scale):
    return [("masks:RIPU RA (impurity x uncertainty)", _masks("ripu_ra", "ripu", "2.2", s)),
            ("masks:uncertainty only", _masks("ripu_ra", "stage1+ripu_b", "2.2", s)),
            ("masks:impurity only", _masks("ripu_ra", "stage1+ripu_a", "2.2", s))]


def _class_frequency(s: Scale):
    return [("masks:RIPU RA 2.2%", _masks("ripu_ra", "ripu", "2.2", s)),
            (f"masks:RIPU RA {s.budget}%", _masks("ripu_ra", "ripu", s.budget, s)),
            (f"masks:ADA-MCU {s.budget}%", _masks("mcu", "mcu", s.budget, s)),
            (f"masks:D2ADA {s.budget}%", _masks("d2ada", "d2ada", s.budget, s)),
            (f"selection:MADA {s.budget}% (images)", f"{_select(run_path('mada', s.budget))}/selection.json")]


def _models(*models: tuple[str, Callable[[Scale], str]]):
    def items(s: Scale):
        return [(f"model:{s.fill(label)}", f"{run(s)}.pt") for label, run in models]
    return items


def _training_curves(s: Scale):
    """The per-iteration losses and learning rates (train_loop's curve CSV) of the headline table's
    main training stages; a chain's rounds under one label."""
    runs = [("AdaptSeg warm-up", WARMUP), (f"random {s.budget}%: stage 1", run_path("random", s.budget)),
            (f"MADA {s.budget}%: stage 2", run_path("mada", s.budget, "stage2")),
            (f"MADAv2 {s.budget}%", run_path("madav2", s.budget, "madav2"))]
    runs += [(f"RIPU RA {s.budget}%|round {r}", run_path("ripu_ra", s.budget, "ripu", r, s.rounds))
             for r in range(1, s.rounds + 1)]
    runs += [("fully supervised", run_path("full", "100"))]
    return [(label, f"{path}.curve.csv") for label, path in runs]


def _last_round(strategy: str, objective: str):
    return lambda s: run_path(strategy, s.budget, objective, s.rounds, s.rounds)


_ADAPTSEG = ("AdaptSeg", lambda s: WARMUP)
_CURVES = "% of target pixels annotated"
_FIGURES = [
    Figure("mada_fig4", "curve", "MADA Fig. 4: mIoU of MADA (stage 1 + 2) vs number of source anchors K (selection) "
           "and target anchors V (alignment loss), the other at mada.*_anchors", _anchor_sweep("mada", "stage2"),
           xlabel="number of anchors", logx=True),
    Figure("madav2_fig6", "curve", "MADAv2 Fig. 6: mIoU of MADAv2 vs number of source anchors and target anchors "
           "(A^w in selection and V in the alignment loss), the other at mada.*_anchors",
           _anchor_sweep("madav2", "madav2"), xlabel="number of anchors", logx=True),
    Figure("d2ada_fig3", "curve", "D2ADA Fig. 3: mIoU vs % of target pixels after each round (GTA5 -> Cityscapes)",
           _round_curves, xlabel=_CURVES, published="d2ada_fig3"),
    Figure("d2ada_fig3_synthia", "curve", "D2ADA Fig. 3: mIoU (16 classes) vs % of target pixels after each round "
           "(SYNTHIA -> Cityscapes)", _round_curves, xlabel=_CURVES, published="d2ada_fig3_synthia", source="synthia"),
    Figure("budget_curves", "curve", "mIoU vs budget per image-level strategy, source + active CE (MADA / MADAv2 "
           "Table 5 as a plot; 100% = fully supervised)", _budget_curves,
           xlabel="% of target pixels (whole images)", logx=True, published="budget_curves"),
    Figure("madav2_fig4", "tsne", "MADAv2 Fig. 4: t-SNE of the target images' class-mean features (warm-up model) "
           "with the anchors and the selected images", _tsne),
    Figure("ripu_fig4", "regions", "RIPU Fig. 4: regions queried on target images after the last round (RA 2.2%)",
           _ripu_regions),
    Figure("ripu_fig5", "class_frequency", "RIPU Fig. 5: class frequency of the selected target pixels vs all target "
           "training pixels", _class_frequency),
    Figure("mada_fig3", "qualitative", "MADA Fig. 3: predictions on target val images",
           _models(_ADAPTSEG, ("MADA", lambda s: run_path("mada", s.budget, "stage2")))),
    Figure("madav2_fig5", "qualitative", "MADAv2 Fig. 5: predictions on target val images",
           _models(_ADAPTSEG, ("MADAv2", lambda s: run_path("madav2", s.budget, "madav2")))),
    Figure("ripu_fig3", "qualitative", "RIPU Fig. 3: predictions on target val images",
           _models(("Source only", lambda s: SOURCE_ONLY), ("RIPU RA {budget}%", _last_round("ripu_ra", "ripu")),
                   ("RIPU PA", _last_round("ripu_pa", "ripu")))),
    Figure("d2ada_fig4", "qualitative", "D2ADA Fig. 4: predictions on target val images",
           _models(_ADAPTSEG, ("AADA", lambda s: run_path("aada", s.budget)),
                   ("D2ADA", _last_round("d2ada", "d2ada")))),
    Figure("training_curves", "training", "Training curves: every loss (moving average over 10 iterations) and the "
           "learning rate per iteration of the headline table's training stages (first seed)", _training_curves,
           xlabel="iteration"),
]
FIGURES: dict[str, Figure] = {f.name: f for f in _FIGURES}
assert len(FIGURES) == len(_FIGURES), "two figures share a name"


def figure(name: str) -> Figure:
    return lookup(FIGURES, name, "figure", "src/adaseg/registry/figures.py")
