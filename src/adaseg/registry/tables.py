"""Result tables: title, source dataset, rows (key, label, run, published key) and the protocol note.

A row's `run` is a model under results/<source>/ (a run path, src/adaseg/registry/runs.py, or a
warm-up); the table reads its evaluation file eval/<run>.json. A row without a run is published
only (the pipeline does not compute it at this scale). Labels, titles, notes and runs may hold
'{budget}' (mada.budget) and '{rounds}' (multi_round.rounds). Published values are looked up by
the row's published key in the table's dictionary of src/adaseg/report/published.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from ..ablations import sweep_variant
from ..report.published import D2ADA_ALPHA, RIPU_SWEEPS
from ._resolve import lookup
from .objectives import objective
from .runs import SOURCE_ONLY, WARMUP, Scale, chain, run_path, seed_of, split_run
from .strategies import random_reference, strategy


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    run: str | None
    published: str | None = None


RowSpec = Union[tuple, Callable[[Scale], list]]


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    note: str
    rows: RowSpec                   # Rows (placeholders filled per config) or f(scale) -> Rows
    source: str = "gta5"            # the source dataset whose runs it reads
    published: str = "PUBLISHED_GTA"
    versus: str = "random"          # what the Δ column compares with: "random" (reference_run) or "official"

    def rows_at(self, scale: Scale) -> list[Row]:
        rows = self.rows(scale) if callable(self.rows) else self.rows
        return [Row(r.key, scale.fill(r.label), scale.fill(r.run) if r.run else None, r.published) for r in rows]

    def runs_at(self, scale: Scale) -> dict[str, str]:
        """row key -> run template ('{seed}', '{wseed}' left in), for the rows the pipeline computes."""
        return {r.key: r.run for r in self.rows_at(scale) if r.run}

    def evaluations(self, scale: Scale) -> dict[str, list[tuple[int, str]]]:
        """row key -> (seed, evaluation file) of each of its runs: one per seed (one in all for a
        shared warm-up), paths under results/<source>/."""
        return {key: [(s, f"eval/{run}.json") for s, run in scale.seeded(template)]
                for key, template in self.runs_at(scale).items()}

    def references(self, scale: Scale) -> dict[str, list[tuple[int, str]]]:
        """row key -> (seed, evaluation file) of the run each of its runs is compared with, paired by
        seed (the "Δ vs <versus>" column): the random run of its unit, or its official-defaults run."""
        compare = COMPARISONS[self.versus][0]
        return {key: [(s, f"eval/{compare(run, scale)}.json") for s, run in scale.seeded(template)]
                for key, template in self.runs_at(scale).items()}

    def reference_labels(self, scale: Scale) -> dict[str, str]:
        """row key -> the run it is compared with, in words (the '<versus> reference' column)."""
        label = COMPARISONS[self.versus][1]
        return {key: label(scale.at_seed(template, scale.seeds[0]), scale)
                for key, template in self.runs_at(scale).items()}

    def title_at(self, scale: Scale) -> str:
        return scale.fill(self.title)

    def note_at(self, scale: Scale) -> str:
        return scale.fill(self.note)


REFERENCE = "random"   # the column is "Δ vs random": every row against the random selection of its own unit


def reference_run(run: str, scale: Scale) -> str:
    """The random run a (concrete) run is compared with, paired by seed: the random selection of
    the run's own unit (images, RA squares, PA pixels, pixels, superpixels; registry
    `random_reference`) at its budget, round and rounds, fine-tuned with its objective (without a
    variant; stage 1 for the semi-supervised objectives, which start from a stage-1 model); random
    images (stage 1) for the random rows of the other units, for oracles of images, for a warm-up
    and for the fully supervised run (at the table's budget)."""
    parts = split_run(run)
    if parts is None or parts["strategy"] == "full":
        return run_path(REFERENCE, scale.budget, seed=seed_of(run))
    s = strategy(parts["strategy"])
    ref = random_reference(s.name)
    if ref == s.name or s.unit == "image":
        return run_path(REFERENCE, parts["budget"], seed=parts["seed"])
    o = objective(parts["objective"])
    obj = "stage1" if o.starts_from or o.image_level_only else o.name
    return run_path(ref, parts["budget"], obj, parts["round"], parts["rounds"], parts["seed"])


def reference_label(run: str, scale: Scale) -> str:
    """What the 'random reference' column says of reference_run(run): unit, budget, rounds, objective."""
    ref = split_run(reference_run(run, scale))
    s = strategy(ref["strategy"])
    unit = "random images" if s.name == REFERENCE else s.label.split(" (")[0].lower()
    budget = f"ripu.{s.options['budget']} px per image" if "budget" in s.options else f"{ref['budget']}%"
    rounds = f", round {ref['round']} of {ref['rounds']}" if ref["rounds"] != "1" else ""
    return f"{unit}, {budget}{rounds}, {ref['objective'].replace('stage1', 'stage 1')}"


def official_run(run: str, scale: Scale) -> str:
    """The same run without its variants: the official defaults a fidelity row departs from."""
    parts = split_run(run)
    if parts is None:
        return run
    return run_path(parts["strategy"].partition("+")[0], parts["budget"], parts["objective"].partition("+")[0],
                    parts["round"], parts["rounds"], parts["seed"])


def official_label(run: str, scale: Scale) -> str:
    """What the 'official reference' column says: the run without its variant, in words."""
    parts = split_run(official_run(run, scale))
    if parts is None:
        return "this row"
    rounds = f", round {parts['round']} of {parts['rounds']}" if parts["rounds"] != "1" else ""
    return f"official defaults: {parts['strategy']} {parts['budget']}%{rounds}, {parts['objective']}"


# Table.versus -> (the run a row's run is compared with, that run in words)
COMPARISONS = {"random": (reference_run, reference_label), "official": (official_run, official_label)}


def once(strategy: str, objective: str = "stage1", budget: str = "{budget}") -> str:
    """A single-round run (round 1 of 1)."""
    return run_path(strategy, budget, objective)


FULL = run_path("full", "100")
AADA = once("aada")
_T1_NOTE = (
    "Budget: counted in labelled target pixels ({budget}% of the target training pixels): whole images for "
    "random/MADA/MADAv2, squares for RIPU RA, superpixels for D2ADA, pixels for ADA-MCU; RIPU PA takes "
    "ripu.pa_pixels_per_image pixels per image. Multi-round methods split the budget into multi_round.rounds "
    "rounds and train as their official code does (src/adaseg/registry/objectives.py): RIPU and ADA-MCU within one "
    "schedule (RIPU with most of it after the last pick), D2ADA a fresh schedule per round; batch norm per domain "
    "(MADA), frozen (RIPU, D2ADA) or joint (ADA-MCU). Evaluation: target val split, "
    "confusion-matrix mIoU over the classes of the label space. Model selection: none; the "
    "final checkpoint of every run is evaluated (the official MADA code picks its best checkpoint on "
    "Cityscapes val). Published values are from the papers with ResNet-101 backbones on the real datasets; "
    "they are not comparable to proxy numbers.")
_ABLATION_NOTE = (
    "Every row is the final checkpoint of one run of this pipeline with the paper's component switched "
    "on or off by a config variant (src/adaseg/ablations.py); the budget is counted in labelled target "
    "pixels; evaluation on the target val split. Model selection: none (final checkpoints). The published column is the "
    "paper's GTA5 -> Cityscapes mIoU (ResNet-101, real data), not comparable to proxy numbers.")
_SELECTION_NOTE = (
    "Every strategy scores the target training images with the same AdaptSeg warm-up model and is "
    "fine-tuned from it with source + active CE only (stage 1, no unlabelled target data). Budget: whole "
    "images up to the given percentage of the target training pixels. Evaluation: target val split, "
    "confusion-matrix mIoU. Model selection: none (final checkpoints). Published values: ResNet-101 on the "
    "real datasets; not comparable to proxy numbers.")
_MAIN_NOTE = _T1_NOTE + (" Only the rows this pipeline computes are listed; the paper's UDA and other "
                         "published-only rows are in the paper.")
_MCU_BUDGET_NOTE = (
    _ABLATION_NOTE.replace("with the paper's component switched on or off by a config variant "
                           "(src/adaseg/ablations.py)", "at the row's budget")
    + " Published: DeepLab-v2 with a CycleGAN-translated source, pixels picked online; here the source "
    "is used as is and pixels are picked at the start of each round.")

# the rows of the main comparison (table1_gta, table1_synthia); the papers' main tables take subsets
MAIN = {r.key: r for r in [
    Row("source_only", "Source only", SOURCE_ONLY),
    Row("adaptseg", "AdaptSeg warm-up", WARMUP, "adaptseg"),
    Row("random", "Random images {budget}% (stage 1)", once("random"), "random"),
    Row("random_squares", "Random 3x3 squares {budget}% ({rounds} rounds, RIPU objective)",
        chain("random_squares", "ripu")),
    Row("random_squares_2p2", "Random 3x3 squares 2.2% ({rounds} rounds, RIPU objective)",
        chain("random_squares", "ripu", "2.2"), "ripu_rand_regions_2.2"),
    Row("random_pixels_pa", "Random pixels (RIPU PA's pixels per image, {rounds} rounds, RIPU objective)",
        chain("random_pixels_pa", "ripu"), "ripu_rand_pixels"),
    Row("random_superpixels", "Random superpixels {budget}% ({rounds} rounds, D2ADA protocol)",
        chain("random_superpixels", "d2ada"), "d2ada_rand"),
    Row("random_pixels", "Random pixels {budget}% ({rounds} rounds, ADA-MCU objective)", chain("random_pixels", "mcu")),
    Row("mada_stage1", "MADA {budget}% stage 1", once("mada"), "mada_stage1"),
    Row("mada_full", "MADA {budget}% (stage 1 + 2)", once("mada", "stage2"), "mada_full"),
    Row("madav2", "MADAv2 {budget}% (stage 1 + semi-supervised step 3)", once("madav2", "madav2"), "madav2"),
    Row("ripu_ra_2p2", "RIPU RA 2.2% ({rounds} rounds)", chain("ripu_ra", "ripu", "2.2"), "ripu_ra_2.2"),
    Row("ripu_ra", "RIPU RA {budget}% ({rounds} rounds)", chain("ripu_ra", "ripu"), "ripu_ra_5"),
    Row("ripu_pa", "RIPU PA (pixels per image, {rounds} rounds)", chain("ripu_pa", "ripu"), "ripu_pa"),
    Row("d2ada", "D2ADA {budget}% ({rounds} rounds, D2ADA protocol)", chain("d2ada", "d2ada"), "d2ada"),
    Row("mcu", "ADA-MCU {budget}% (pixels, multi-level contrastive units)", chain("mcu", "mcu"), "mcu"),
    Row("fully_supervised", "Fully supervised (source + all target labels)", FULL, "fully_supervised"),
]}


# table1_* hold the rows at the table's budget; the 2.2% rows (RIPU RA and its random squares) are in ripu_table1/2
MAIN_TABLE_ROWS = tuple(r for k, r in MAIN.items() if k not in ("random_squares_2p2", "ripu_ra_2p2"))


def _main(key: str, label: str | None = None, published: str | None = None) -> Row:
    """A row of the main comparison under another label / published key."""
    r = MAIN[key]
    return Row(key, label or r.label, r.run, published or r.published)


def _rounds_shown(scale: Scale) -> list[int]:
    """Rounds 1, middle and last (D2ADA Table 2 and supp. Table 5: 1, 3, 5 of 5)."""
    return sorted({1, (scale.rounds + 1) // 2, scale.rounds})


def _per_round(rows: list[tuple[str, str, str, str]]):
    """Rows '<row>_r<r>' for rounds 1..5 (published) and the rounds computed at this scale."""
    def make(scale: Scale) -> list[Row]:
        shown = _rounds_shown(scale)
        return [Row(f"{row}_r{r}", f"{name}, round {r}", f"{chain_path}/round{r}of{{rounds}}" if r in shown else None,
                    f"{prefix}_{r}")
                for row, name, chain_path, prefix in rows for r in sorted(set(range(1, 6)) | set(shown))]
    return make


def _budget_sweep(strategy: str, prefix: str):
    """Rows 'b<budget>' at figures.budgets, then the fully supervised run as 'b100'."""
    def make(scale: Scale) -> list[Row]:
        return [Row(f"b{b}", f"{b}% of the target images", once(strategy, budget=b), f"{prefix}_{float(b):g}")
                for b in scale.budgets] + [Row("b100", "100% (all target labels, fully supervised)", FULL,
                                               f"{prefix}_100")]
    return make


def _sweep(sweep: str, symbol: str, values, run: Callable[[str], str]) -> tuple:
    """One row per value of a one-parameter sweep (variant <sweep>_<value>, src/adaseg/ablations.py)."""
    return tuple(Row(sweep_variant(sweep, v), f"{symbol} = {v:g}", run(sweep_variant(sweep, v)), f"{sweep}_{v:g}")
                 for v in values)


def _chain_dir(strategy: str, objective: str, budget: str = "{budget}") -> str:
    return f"finetune/s{{seed}}/{strategy}/{budget}/{objective}"


# the oracles beside the random selection of their unit: one round from the warm-up, stage 1
ORACLE_ROWS = (
    ("random", "Random images"), ("oracle_loss", "Oracle: images of largest true loss"),
    ("oracle_balanced", "Oracle: class-balanced images of largest true loss"),
    ("random_squares", "Random 3x3 squares"), ("oracle_squares", "Oracle: 3x3 squares of largest true loss"),
    ("oracle_squares_balanced", "Oracle: class-balanced 3x3 squares of largest true loss"),
    ("random_pixels", "Random pixels"), ("oracle_pixels", "Oracle: pixels of largest true loss"),
    ("oracle_pixels_balanced", "Oracle: class-balanced pixels of largest true loss"),
    ("random_superpixels", "Random superpixels"),
    ("oracle_superpixels", "Oracle: superpixels of largest true loss"),
    ("oracle_superpixels_balanced", "Oracle: class-balanced superpixels of largest true loss"),
)
_ORACLE_NOTE = (
    "Oracles select with the target ground truth (src/adaseg/select/oracle.py): they are upper references "
    "for selection, not methods. Every row selects once with the AdaptSeg warm-up and is fine-tuned from it "
    "with source + active CE (stage 1); the budget is {budget}% of the target training pixels (whole images, or "
    "that share of every image for squares and pixels, or of the pool for superpixels). Each oracle is compared "
    "with the random selection of its own unit; the random rows of the other units with random images. "
    "Evaluation: target val split, confusion-matrix mIoU. Model selection: none (final checkpoints).")

# each method's official default (a row of the main table) beside its departures, one at a time (a fid_*
# variant of src/adaseg/ablations.py): method row key -> [(row key, what departs, run)]
FIDELITY = {
    "mada_stage1": [("mada_stage1_bn_joint", "batch norm joint (official: per domain)", once("mada", "stage1+fid_bn_joint")),
                    ("mada_stage1_kmeans", "k-means of scikit-learn: k-means++, 10 runs (official: random init, "
                     "20 iterations, 1 run)", once("mada+fid_kmeans_sklearn"))],
    "mada_full": [("mada_full_anchor", "anchor loss per image (official: one batch-merged vector, gradient-scaled)",
                   once("mada", "stage2+fid_anchor_per_image"))],
    "madav2": [("madav2_source", "step 3 with source images (official: none)", once("madav2", "madav2+fid_step3_source")),
               ("madav2_acm", "ACM random boxes (official: a class component's box)", once("madav2", "madav2+fid_acm_random")),
               ("madav2_bn_joint", "batch norm joint (official: per pass)", once("madav2", "madav2+fid_bn_joint")),
               ("madav2_ohem_cons", "OHEM on the consistency terms (official: on the active loss)",
                once("madav2", "madav2+fid_ohem_consistency")),
               ("madav2_ohem_keep", "OHEM keeps 0.218 of the pixels (official: 0.054)", once("madav2", "madav2+fid_ohem_keep_0p218")),
               ("madav2_anchor_start", "anchor loss from the start (official: after a quarter)",
                once("madav2", "madav2+fid_anchor_from_start")),
               ("madav2_anchor_mixed", "anchor loss on the mixed images (official: un-mixed)",
                once("madav2", "madav2+fid_anchor_on_mixed")),
               ("madav2_acp_any", "ACP of any class (official: never road, sidewalk, building, vegetation, sky)",
                once("madav2", "madav2+fid_acp_any_class"))],
    "ripu_ra": [("ripu_ra_bn_joint", "batch norm joint (official: frozen)", chain("ripu_ra", "ripu+fid_bn_joint")),
                ("ripu_ra_equal", "equal schedule slices per round (official: RIPU's selection points)",
                 chain("ripu_ra", "ripu+fid_round_shares_equal")),
                ("ripu_ra_within", "RA squares within the budget (official: ceil, may overshoot)",
                 chain("ripu_ra", "ripu+fid_ra_within_budget")),
                ("ripu_ra_cons_all", "local consistency on every source pixel (official: class boundaries)",
                 chain("ripu_ra", "ripu+fid_consistency_all"))],
    "ripu_pa": [("ripu_pa_2k", "PA blocking radius 2k (official: k)", chain("ripu_pa", "ripu+fid_pa_radius_2k"))],
    "d2ada": [("d2ada_split", "one schedule split over the rounds (official: a fresh schedule per round)",
               chain("d2ada", "d2ada+fid_schedule_split")),
              ("d2ada_sigmoid", "class split by eq. 6's sigmoid weights (official: weighted round-robin)",
               chain("d2ada", "d2ada+fid_class_split_sigmoid")),
              ("d2ada_gmm", "GMMs with their own domain's components, reg_covar 1e-4, 100 iterations (official: the "
               "target's, 1e-6, 200)", chain("d2ada", "d2ada+fid_gmm_own"))],
    "mcu": [("mcu_per_image", "equal quota per image (official: one global threshold)", chain("mcu", "mcu+fid_quota_per_image")),
            ("mcu_top", "top half of G_h (official: a uniform random half)", chain("mcu", "mcu+fid_g_h_top")),
            ("mcu_hard", "hard pseudo-labels on all of G_l (official: M_e/2 sampled, soft targets)",
             chain("mcu", "mcu+fid_pseudo_all_hard")),
            ("mcu_stride4", "labels reach the contrastive units at stride 4 (paper: at their resolution)",
             chain("mcu", "mcu+fid_label_stride4"))],
}
FIDELITY_ROWS = tuple(row for base, departures in FIDELITY.items()
                      for row in (MAIN[base], *(Row(key, f"{MAIN[base].label}, {what}", run) for key, what, run in departures)))
_FIDELITY_NOTE = (
    "Each method's row with the official code's defaults (as in table1_gta), then one departure at a time: a "
    "fid_* config variant (src/adaseg/ablations.py; docs/fidelity.md names the official file and line of each). "
    "The Δ column is the paired difference to the official-defaults row of the same seed; a variant of a "
    "multi-round chain also selects its later rounds with its own models, a variant of the strategy (k-means) "
    "also selects with it. Evaluation: target val split, confusion-matrix mIoU. Model selection: none.")


_TABLES = [
    Table("table1_gta",
          "GTA5 -> Cityscapes (proxy benchmark unless configured otherwise): per-class IoU and mIoU (%)",
          _T1_NOTE, MAIN_TABLE_ROWS),
    Table("table1_synthia",
          "SYNTHIA -> Cityscapes (proxy benchmark unless configured otherwise): per-class IoU, mIoU over 16 "
          "classes and mIoU* over 13 (without wall, fence, pole) (%)",
          _T1_NOTE + " D2ADA uses alpha = 0.5 on SYNTHIA (d2ada.alpha_by_source).", MAIN_TABLE_ROWS,
          source="synthia", published="PUBLISHED_SYNTHIA"),
    Table("table_fidelity_gta",
          "Each method as its official code runs it, and each of adaseg's switches away from it, GTA5 -> Cityscapes "
          "(proxy benchmark unless configured otherwise), {budget}%: per-class IoU and mIoU (%)",
          _FIDELITY_NOTE, FIDELITY_ROWS, versus="official"),
    Table("table_oracles_gta",
          "Oracles and random selection per unit, GTA5 -> Cityscapes (proxy benchmark unless configured "
          "otherwise), {budget}%, one round, stage 1: per-class IoU and mIoU (%)",
          _ORACLE_NOTE, tuple(Row(s, label, once(s)) for s, label in ORACLE_ROWS)),
    # MADAv2 Table 3 / MADA Table 4: every strategy, fine-tuned the same way (stage 1, one round)
    Table("table_selection_gta",
          "Selection strategies, GTA5 -> Cityscapes, equal budget, each fine-tuned with source + active CE "
          "(stage 1, no unlabelled target data): per-class IoU and mIoU (%)",
          "Budget: labelled target pixels; image-level strategies take whole images up to the configured "
          "percentage of the target training pixels, RIPU RA takes squares up to the same percentage of each "
          "image, RIPU PA takes ripu.pa_pixels_per_image pixels per image (far fewer pixels). Every strategy scores the target images with the same "
          "AdaptSeg warm-up model and is fine-tuned from it with the same stage-1 schedule. Evaluation: target val "
          "split, confusion-matrix mIoU. Model selection: none (final checkpoints). Published values: MADAv2 "
          "Table 3 (ResNet-101, real datasets, 5%); not comparable to proxy numbers.",
          tuple(Row(s, label, once(s), pub) for s, label, pub in [
              ("random", "Random", "madav2_t3_random"),
              ("entropy", "Entropy (AdvEnt)", "madav2_t3_entropy"),
              ("confidence", "Softmax confidence", None),
              ("margin", "Margin", None),
              ("adversarial", "Adversarial (discriminator, eq. 17)", "madav2_t3_adversarial"),
              ("aada", "AADA (eq. 18)", "madav2_t3_aada"),
              ("prototype", "Prototype (single centroid, eq. 19)", "madav2_t3_prototype"),
              ("coreset", "Core-set", None),
              ("badge", "BADGE", None),
              ("clue", "CLUE", None),
              ("mada", "MADA (source anchors)", "madav2_t3_mada"),
              ("madav2", "MADAv2 (Dual_Domain_Distance)", "madav2_t3_madav2"),
              ("ripu_ra", "RIPU RA (one round, squares)", None),
              ("ripu_pa", "RIPU PA (one round, pixels)", None),
              ("mcu", "ADA-MCU uncertainty + adaptive sampling (pixels)", None),
              ("d2ada", "D2ADA density + entropy (one round, superpixels)", None),
              ("region_entropy", "Entropy (superpixel regions)", None)])),
    # the papers' ablations (variants: src/adaseg/ablations.py); M(0) is the warm-up, M(u) fully supervised
    Table("mada_table3",
          "MADA Table 3 ablation (GTA5 -> Cityscapes): A active samples, B soft-anchor alignment, "
          "C EMA target anchors, D pseudo-label training",
          _ABLATION_NOTE + " Budget: whole images up to mada.budget percent of the target pixels.",
          (Row("M0", "M(0): AdaptSeg warm-up", WARMUP, "mada_t3_M0"),
           Row("M1", "M(1): A", once("mada"), "mada_t3_M1"),
           Row("M2", "M(2): A + B", once("mada", "stage2+mada_M2"), "mada_t3_M2"),
           Row("M3", "M(3): A + B + C", once("mada", "stage2+mada_M3"), "mada_t3_M3"),
           Row("M4", "M(4): A + B + C + D (MADA)", once("mada", "stage2"), "mada_t3_M4"),
           Row("Mu", "M(u): fully supervised", FULL, "mada_t3_Mu"))),
    Table("madav2_table2",
          "MADAv2 Table 2 ablation (GTA5 -> Cityscapes): A active samples, B consistency loss, C OHEM, "
          "D ACM + ACP, E soft-anchor alignment",
          _ABLATION_NOTE + " The teacher is the frozen stage-1 model (madav2.teacher_ema = 0).",
          (Row("M0", "M(0): AdaptSeg warm-up", WARMUP, "madav2_t2_M0"),
           Row("M1", "M(1): A", once("madav2"), "madav2_t2_M1"),
           Row("M2", "M(2): A + B", once("madav2", "madav2+madav2_M2"), "madav2_t2_M2"),
           Row("M3", "M(3): A + B + C", once("madav2", "madav2+madav2_M3"), "madav2_t2_M3"),
           Row("M4", "M(4): A + B + C + D", once("madav2", "madav2+madav2_M4"), "madav2_t2_M4"),
           Row("M5", "M(5): A + ... + E (MADAv2)", once("madav2", "madav2"), "madav2_t2_M5"),
           Row("Mu", "M(u): fully supervised", FULL, "madav2_t2_Mu"))),
    Table("ripu_table3", "RIPU Table 3 ablation (RA, 2.2% of each image over the rounds, GTA5 -> Cityscapes)",
          _ABLATION_NOTE + " Rounds: multi_round.rounds within one poly schedule, most of it after the last pick "
          "(RIPU's official round shares, multi_round.round_shares).",
          tuple(Row(k, label, chain("ripu_ra", objective, "2.2"), f"ripu_t3_{k}") for k, label, objective in [
              ("a", "(a) impurity only, CE", "stage1+ripu_a"), ("b", "(b) uncertainty only, CE", "stage1+ripu_b"),
              ("c", "(c) impurity x uncertainty, CE", "stage1"), ("d", "(d) (c) + local consistency", "ripu+ripu_d"),
              ("e", "(e) (c) + negative learning", "ripu+ripu_e"), ("f", "(f) RIPU (all)", "ripu")])),
    # D2ADA Table 2 reports rounds 1, 3 and 5 of 5 (1%, 3%, 5% with the 5% budget)
    Table("d2ada_table2",
          "D2ADA Table 2 ablation (GTA5 -> Cityscapes) after rounds 1, 3 and 5 of 5 (1%, 3%, 5% with a 5% budget)",
          _ABLATION_NOTE + " Regions: SLIC superpixels; each round labels budget / rounds of the target pixels.",
          _per_round([(row, f"({row}) {name}", _chain_dir(strategy, objective), f"d2ada_t2_{row}")
                      for row, name, strategy, objective in [
                          ("a", "uncertainty only", "region_entropy", "d2ada"),
                          ("b", "density only", "d2ada", "d2ada+d2ada_b"),
                          ("c", "density + category balance", "d2ada", "d2ada+d2ada_c"),
                          ("d", "(c) + uncertainty, equal split", "d2ada", "d2ada+d2ada_d"),
                          ("e", "(d) with dynamic scheduling (D2ADA)", "d2ada", "d2ada")]])),
    Table("mcu_table6",
          "ADA-MCU Table 6 ablation (GTA5 -> Cityscapes, pixel budget mada.budget percent; the paper uses 20%)",
          _ABLATION_NOTE + " Pixels are selected offline at the start of each round (the paper selects online).",
          tuple(Row(k, label, chain("mcu", objective), f"mcu_t6_{k}") for k, label, objective in [
              ("al_no_as", "AL (w/o AS)", "mcu+mcu_noas"), ("al_as", "AL (w AS)", "mcu+mcu_as"),
              ("mcu_i", "AL (w MCU_i): intra + cross-image units", "mcu+mcu_i"),
              ("mcu_d", "AL (w MCU_d): + cross-domain units", "mcu+mcu_d"),
              ("p2p", "AL (w p2p)", "mcu+mcu_p2p"), ("p2p_c2c", "AL (w p2p + c2c) (= MCU_d)", "mcu+mcu_d"),
              ("full", "Full model (+ DCCM)", "mcu")])),
    # selection strategies (stage 1 = source + active CE) and the selection x semi-stage grid
    Table("mada_table4", "MADA Table 4: active sample selection methods, GTA5 -> Cityscapes, {budget}% of the target images",
          _SELECTION_NOTE,
          tuple(Row(s, label, once(s), f"mada_t4_{s}") for s, label in [
              ("random", "Random"), ("entropy", "Entropy (AdvEnt)"), ("adversarial", "Adversarial"),
              ("aada", "AADA"), ("mada", "Proposed (MADA multi-anchor)")])),
    Table("madav2_table3",
          "MADAv2 Table 3: active sample selection methods, GTA5 -> Cityscapes, {budget}% of the target images",
          _SELECTION_NOTE,
          tuple(Row(s, label, once(s), f"madav2_t3_{s}") for s, label in [
              ("random", "Random"), ("adversarial", "Adversarial"), ("entropy", "Entropy"), ("aada", "AADA"),
              ("prototype", "Prototype (single centroid)"), ("mada", "MADA"),
              ("madav2", "MADAv2 (Dual_Domain_Distance)")])),
    Table("madav2_table4", "MADAv2 Table 4: sample selection x semi-supervised stage, GTA5 -> Cityscapes, {budget}%",
          _ABLATION_NOTE + " Each semi-supervised stage starts from the stage-1 model of its selection.",
          tuple(Row(f"{sel}_{semi}", label, once(sel, "stage2" if semi == "mada" else "madav2"),
                    f"madav2_t4_{sel}_{semi}") for sel, semi, label in [
              ("mada", "mada", "MADA selection, MADA stage 2"),
              ("madav2", "mada", "MADAv2 selection, MADA stage 2"),
              ("mada", "madav2", "MADA selection, MADAv2 step 3"),
              ("madav2", "madav2", "MADAv2 selection, MADAv2 step 3 (MADAv2)")])),
    *[Table(f"{paper}_table5",
            f"{name} Table 5: {name} selection at several budgets (source + active CE), GTA5 -> Cityscapes",
            _SELECTION_NOTE.replace("Budget: whole images up to the given percentage",
                                    "Budget (rows): whole images up to each percentage")
            + " The 100% row is the fully supervised run.",
            _budget_sweep(paper, f"{paper}_t5")) for paper, name in [("mada", "MADA"), ("madav2", "MADAv2")]],
    # one-parameter sweeps at the papers' values (variants <sweep>_<value>)
    *[Table(f"ripu_table{table.split()[-1]}", f"RIPU {table}: {what}, RA 2.2% over the rounds, "
            "GTA5 -> Cityscapes",
            _ABLATION_NOTE + " Each row is the full RIPU chain (multi_round.rounds rounds) with one value "
            "changed (sweep variant); the published values are DeepLab-v2.",
            _sweep(sweep, symbol, [v for v, _ in RIPU_SWEEPS[sweep][2]],
                   lambda variant: chain("ripu_ra", f"ripu+{variant}", "2.2")))
      for sweep, symbol, what in [("ripu_tau", "tau", "negative-learning threshold tau (eq. 10)"),
                                  ("ripu_alpha1", "alpha_1", "local-consistency weight alpha_1"),
                                  ("ripu_alpha2", "alpha_2", "negative-learning weight alpha_2")]
      for table in [RIPU_SWEEPS[sweep][0]]],
    Table("d2ada_table_s4",
          "D2ADA supplementary Table 4: alpha (share of the round's budget given to density), first round "
          "(budget / rounds of the target pixels), GTA5 -> Cityscapes",
          _ABLATION_NOTE + " Regions: SLIC superpixels; beta = d2ada.beta.",
          _sweep("d2ada_alpha", "alpha", [a for a, _, _ in D2ADA_ALPHA],
                 lambda variant: chain("d2ada", f"d2ada+{variant}", round=1))),
    Table("mcu_table1", "ADA-MCU Table I: ADA-MCU at several pixel budgets (GTA5 -> Cityscapes)", _MCU_BUDGET_NOTE,
          tuple(Row(f"b{b}", f"ADA-MCU, {b}% of the target pixels", chain("mcu", "mcu", b), f"mcu_t1_{b}")
                for b in ["1.7", "3.4", "6.8", "16.8"])),
    Table("mcu_table2",
          "ADA-MCU Table II: ADA-MCU at several pixel budgets (SYNTHIA -> Cityscapes), mIoU over 16 and 13 classes",
          _MCU_BUDGET_NOTE,
          tuple(Row(f"b{b}", f"ADA-MCU, {b}% of the target pixels", chain("mcu", "mcu", b), f"mcu_t2_{b}")
                for b in ["1.7", "3.4", "6.8", "16.8"]), source="synthia", published="PUBLISHED_SYNTHIA"),
    Table("d2ada_table_s5",
          "D2ADA supplementary Table 5: scheduling of the density / uncertainty split over the rounds "
          "(GTA5 -> Cityscapes), after rounds 1, 3 and 5 of 5",
          _ABLATION_NOTE + " Linear decay is not expressible with eq. 7 and is not run.",
          _per_round([(p, name, _chain_dir("d2ada", objective), f"d2ada_ts5_{p}") for p, name, objective in [
              ("even", "Even distribution (alpha 0.5, beta 0)", "d2ada+d2ada_d"),
              ("half", "Half decay (eq. 7, D2ADA)", "d2ada")]])),
    Table("mcu_table4", "ADA-MCU Table IV: MADA vs ADA-MCU at {budget}% (GTA5 -> Cityscapes)", _T1_NOTE,
          (Row("mada", "MADA (stage 1 + 2)", MAIN["mada_full"].run, "mcu_t4_mada"),
           Row("mcu", "ADA-MCU (full model)", MAIN["mcu"].run, "mcu_t4_mcu"))),
    # the computable rows of each paper's main comparison table
    *[Table(f"mada_table{n}", f"MADA Table {n} ({setting}), computable rows: {scores} (%)", _MAIN_NOTE,
            (_main("adaptseg"), Row("aada", "AADA {budget}% (stage 1)", AADA, f"mada_t{n}_aada"), _main("mada_full")),
            **synthia)
      for n, setting, scores, synthia in [
          (1, "GTA5 -> Cityscapes", "per-class IoU and mIoU", {}),
          (2, "SYNTHIA -> Cityscapes", "mIoU (16 classes) and mIoU* (13 classes)",
           dict(source="synthia", published="PUBLISHED_SYNTHIA"))]],
    Table("madav2_table1",
          "MADAv2 Table 1(a) (GTA5 -> Cityscapes), computable rows at {budget}%: per-class IoU and mIoU (%)",
          _MAIN_NOTE,
          (_main("adaptseg"), Row("aada", "AADA (stage 1)", AADA, "madav2_t1_aada"),
           _main("mada_full", "MADA", "madav2_t1_mada"), _main("ripu_ra", "RIPU RA ({rounds} rounds)", "madav2_t1_ripu"),
           _main("d2ada", "D2ADA ({rounds} rounds)", "madav2_t1_d2ada"), _main("madav2", "MADAv2"),
           _main("fully_supervised", "Fully supervised", "madav2_t1_full"))),
    *[Table(f"ripu_table{n}", f"RIPU Table {n} ({setting}), computable rows: {scores} (%)",
            _MAIN_NOTE + f" The paper's PA and RA 2.2% {v2} DeepLab-v2.",
            (_main("source_only", published=f"ripu_t{n}_source_only"),
             _main("random_squares_2p2", "RAND (random 3x3 squares, 2.2%, {rounds} rounds)"),
             _main("ripu_pa", "Ours (PA, {rounds} rounds)"), _main("ripu_ra_2p2", "Ours (RA, 2.2%, {rounds} rounds)"),
             Row("aada", "AADA {budget}% (stage 1)", AADA, f"mada_t{n}_aada"), _main("mada_full", "MADA {budget}%"),
             _main("ripu_ra", "Ours (RA, {budget}%, {rounds} rounds)"),
             _main("fully_supervised", "Fully supervised", f"ripu_t{n}_full_v3")),
            **synthia)
      for n, setting, scores, v2, synthia in [
          (1, "GTA5 -> Cityscapes", "per-class IoU and mIoU", "rows and its first fully supervised row are", {}),
          (2, "SYNTHIA -> Cityscapes", "mIoU (16 classes) and mIoU* (13 classes)", "rows are",
           dict(source="synthia", published="PUBLISHED_SYNTHIA"))]],
    Table("d2ada_table1", "D2ADA Table 1(a) (GTA5 -> Cityscapes), computable rows: per-class IoU and mIoU (%)",
          _MAIN_NOTE + " The paper's last row trains on the target only (no source data); here the upper bound "
          "is source + all target labels.",
          (_main("adaptseg", published="d2ada_t1_adaptseg"), _main("mada_full", "MADA {budget}%", "d2ada_t1_mada"),
           _main("d2ada", "ADeADA / D2ADA {budget}% ({rounds} rounds)"),
           _main("fully_supervised", "Fully supervised (source + all target labels)", "d2ada_t1_target_only"))),
    Table("ripu_table4", "RIPU Table 4 (GTA5 -> Cityscapes): RIPU's acquisition trained with CE only (no L_cr, L_nl)",
          _ABLATION_NOTE + " RAND, ENT and SCONF at region/pixel level are not implemented here (image-level "
          "versions are in table_selection_gta).",
          (Row("ours_pa", "Ours (PA, {rounds} rounds, CE only)", chain("ripu_pa", "stage1"), "ripu_t4_pa"),
           Row("ours_ra", "Ours (RA 2.2%, {rounds} rounds, CE only)", chain("ripu_ra", "stage1", "2.2"), "ripu_t4_ra"))),
]
TABLES: dict[str, Table] = {t.name: t for t in _TABLES}
MAIN_TABLE = "table1_gta"  # the default target of the Snakefile and the README's main job
assert len(TABLES) == len(_TABLES), "two tables share a name"
assert all(t.versus in COMPARISONS for t in _TABLES), "a table compares with an unknown reference (COMPARISONS)"


def table(name: str) -> Table:
    return lookup(TABLES, name, "table", "src/adaseg/registry/tables.py")
