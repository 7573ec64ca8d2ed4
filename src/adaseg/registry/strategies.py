"""Selection strategies: what each one labels and how the pipeline runs it.

`runner` says which selection runner (and Snakemake rule) runs the strategy and what `score`
names:
- "image": whole target images, scored from the warm-up model's feature dumps
  (src/adaseg/select/run.py, rule select_image). `score` is f(inputs) -> (scores, extra arrays),
  inputs an `adaseg.select.run.ScoringInputs`; higher scores are picked first, or, with
  `order_based`, the scores are the pick order (n, n-1, ..., 1, 0 for unpicked). `reads` lists the
  feature-dump fields it needs ("target:entropy", "source:features").
- "model": regions or pixels of every target image, picked with the current model in the loop
  (src/adaseg/select/region_run.py, rule select_regions). `score` is the per-image pick function
  f(prob, prob_aux, budget, labelled, *, cfg, options, rng) -> (new mask, picks, score map).
- "superpixel": SLIC superpixels scored from region features (src/adaseg/select/d2ada.py, rule
  select_superpixels). `score` is the round function; options["order"] says what ranks the regions
  outside the density budget (entropy, random, or an oracle's true loss).

Every unit has its random baseline (random images, random RA squares, random PA pixels, random
pixels, random superpixels: `random_reference`), and tables compare each row with the random row
of its own unit, budget and rounds. Oracles (`oracle=True`) select with the target ground truth
(src/adaseg/select/oracle.py): they read "labels" (runner "model"), "target:true_*" dump fields
(runner "image") or the region dump's true-loss columns (runner "superpixel"); they are upper
references for selection, never methods.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ._resolve import lookup, resolve

UNITS = ("image", "region", "superpixel", "pixel")
RUNNERS = ("image", "model", "superpixel")


@dataclass(frozen=True)
class Strategy:
    name: str
    label: str
    unit: str                       # what one pick labels: image | region | superpixel | pixel
    family: str
    runner: str                     # image | model | superpixel (see the module docstring)
    score: str                      # "module:function"
    reads: tuple[str, ...] = ()     # image: feature-dump fields; model: network heads; superpixel: region dumps
    order_based: bool = False
    options: dict = field(default_factory=dict)
    upper_bound: bool = False       # labels every target image: trains finetune.full_supervision.iterations
    oracle: bool = False            # selects with the target ground truth (an upper reference, not a method)

    def __post_init__(self):
        assert self.unit in UNITS and self.runner in RUNNERS, self
        assert "+" not in self.name and "/" not in self.name, self

    @property
    def multi_round(self) -> bool:
        """Whether it can select in several rounds (excluding what earlier rounds labelled)."""
        return self.runner != "image"

    def scorer(self):
        return resolve(self.score)


def _image(name, label, family, score, reads=(), **kw):
    return Strategy(name, label, "image", family, "image", score, tuple(reads), **kw)


STRATEGIES: dict[str, Strategy] = {s.name: s for s in [
    _image("random", "Random", "random", "adaseg.select.random_sampling:random_strategy"),
    _image("full", "All target images (fully supervised)", "all target labels",
           "adaseg.select.random_sampling:full_strategy", upper_bound=True),
    _image("entropy", "Entropy (AdvEnt)", "uncertainty", "adaseg.select.uncertainty:entropy_strategy",
           ["target:entropy"]),
    _image("confidence", "Softmax confidence", "uncertainty", "adaseg.select.uncertainty:confidence_strategy",
           ["target:confidence"]),
    _image("margin", "Margin", "uncertainty", "adaseg.select.uncertainty:margin_strategy", ["target:margin"]),
    _image("adversarial", "Adversarial (discriminator)", "adversarial",
           "adaseg.select.adversarial:adversarial_strategy", ["target:disc_source_prob"]),
    _image("aada", "AADA", "adversarial", "adaseg.select.adversarial:aada_strategy",
           ["target:disc_source_prob", "target:entropy"]),
    _image("mada", "MADA (source anchors)", "anchors", "adaseg.select.mada:mada_strategy",
           ["source:features", "target:features"]),
    _image("madav2", "MADAv2 (Dual_Domain_Distance)", "anchors", "adaseg.select.anchors:madav2_strategy",
           ["source:features", "target:features"]),
    _image("prototype", "Prototype (single centroid)", "anchors", "adaseg.select.anchors:prototype_strategy",
           ["source:features", "target:features"]),
    _image("coreset", "Core-set", "diversity", "adaseg.select.diversity:coreset_strategy",
           ["source:pooled", "target:pooled"], order_based=True),
    _image("badge", "BADGE", "diversity", "adaseg.select.diversity:badge_strategy", ["target:grad_embedding"],
           order_based=True),
    _image("clue", "CLUE", "diversity", "adaseg.select.diversity:clue_strategy", ["target:pooled", "target:entropy"],
           order_based=True),
    _image("oracle_loss", "Oracle: images of largest true loss", "oracle", "adaseg.select.oracle:image_oracle_strategy",
           ["target:true_loss"], oracle=True),
    _image("oracle_balanced", "Oracle: class-balanced images of largest true loss", "oracle",
           "adaseg.select.oracle:image_oracle_balanced_strategy",
           ["target:true_loss", "target:true_class_loss", "target:true_class_pixels"], order_based=True, oracle=True),
    Strategy("ripu_ra", "RIPU region-based annotation (squares)", "region", "RIPU", "model",
             "adaseg.select.ripu:ripu_picks", ("logits",), options={"mode": "RA", "k": "k_ra"}),
    Strategy("ripu_pa", "RIPU pixel-based annotation", "pixel", "RIPU", "model",
             "adaseg.select.ripu:ripu_picks", ("logits",),
             options={"mode": "PA", "k": "k_pa", "budget": "pa_pixels_per_image"}),
    Strategy("random_squares", "Random 3x3 squares (RIPU RA's unit)", "region", "random", "model",
             "adaseg.select.random_sampling:random_unit_picks", (), options={"mode": "RA", "k": "k_ra"}),
    Strategy("random_pixels_pa", "Random pixels (RIPU PA's unit and per-image budget)", "pixel", "random", "model",
             "adaseg.select.random_sampling:random_unit_picks", (),
             options={"mode": "PA", "k": "k_pa", "budget": "pa_pixels_per_image"}),
    Strategy("random_pixels", "Random pixels (ADA-MCU's unit)", "pixel", "random", "model",
             "adaseg.select.random_sampling:random_unit_picks", ()),
    Strategy("oracle_squares", "Oracle: 3x3 squares of largest true loss", "region", "oracle", "model",
             "adaseg.select.oracle:oracle_picks", ("logits", "labels"), options={"k": "k_ra"}, oracle=True),
    Strategy("oracle_squares_balanced", "Oracle: class-balanced 3x3 squares of largest true loss", "region",
             "oracle", "model", "adaseg.select.oracle:oracle_picks", ("logits", "labels"),
             options={"k": "k_ra", "balanced": True}, oracle=True),
    Strategy("oracle_pixels", "Oracle: pixels of largest true loss", "pixel", "oracle", "model",
             "adaseg.select.oracle:oracle_picks", ("logits", "labels"), oracle=True),
    Strategy("oracle_pixels_balanced", "Oracle: class-balanced pixels of largest true loss", "pixel", "oracle",
             "model", "adaseg.select.oracle:oracle_picks", ("logits", "labels"), options={"balanced": True},
             oracle=True),
    Strategy("mcu", "ADA-MCU uncertainty + adaptive sampling", "pixel", "ADA-MCU", "model",
             "adaseg.select.mcu:mcu_picks", ("logits", "aux")),
    Strategy("d2ada", "D2ADA density + entropy (superpixels)", "superpixel", "D2ADA", "superpixel",
             "adaseg.select.d2ada:run_d2ada", ("source", "target"), options={"density": True}),
    Strategy("region_entropy", "Entropy (superpixel regions)", "superpixel", "D2ADA", "superpixel",
             "adaseg.select.d2ada:run_d2ada", ("target",), options={"density": False}),
    Strategy("random_superpixels", "Random superpixels (D2ADA's unit)", "superpixel", "random", "superpixel",
             "adaseg.select.d2ada:run_d2ada", ("target",), options={"density": False, "order": "random"}),
    Strategy("oracle_superpixels", "Oracle: superpixels of largest true loss", "superpixel", "oracle", "superpixel",
             "adaseg.select.d2ada:run_d2ada", ("target",), options={"density": False, "order": "true_loss"},
             oracle=True),
    Strategy("oracle_superpixels_balanced", "Oracle: class-balanced superpixels of largest true loss", "superpixel",
             "oracle", "superpixel", "adaseg.select.d2ada:run_d2ada", ("target",),
             options={"density": False, "order": "true_loss", "balanced": True}, oracle=True),
]}


def strategy(name: str) -> Strategy:
    """The strategy `name` (a variant after '+' is ignored), or an error listing the known ones."""
    return lookup(STRATEGIES, name.partition("+")[0], "selection strategy", "src/adaseg/registry/strategies.py")


def random_reference(name: str) -> str:
    """The random baseline of a strategy's unit (and budget kind): what its rows are compared with."""
    s = strategy(name)
    if s.unit == "image":
        return "random"
    if s.unit == "region":
        return "random_squares"
    if s.unit == "superpixel":
        return "random_superpixels"
    return "random_pixels_pa" if "budget" in s.options else "random_pixels"


def strategies_run_by(runner: str) -> list[str]:
    return [s.name for s in STRATEGIES.values() if s.runner == runner]


# the image-level selections at mada.budget that a DVC remote shares with the warm-up (the inputs of
# the headline table's selection rows and of the t-SNE figure; rule shared_<source>, dvc.yaml)
SHARED_SELECTIONS = ("random", "mada", "madav2")
