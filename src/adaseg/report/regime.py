"""Where a benchmark sits against the papers' regime.

`regime` (the footnote of every main table) reads the table's own rows: the AdaptSeg warm-up's share
of full supervision (R1), how much of the gap from the warm-up to full supervision random images
recover (R2) and how many classes full supervision learns (IoU >= 10, the second half of R4).
`paper_regime` (target proxy_regime) checks all of R1-R5, including the per-unit random baselines
and the oracles of table_oracles_gta. In the papers (GTA5 -> Cityscapes, 5%): MADA Table 3 warm-up
42.5 and full supervision 69.3 (0.61); random images 56.7 (MADA Table 4), recovering 53% of the gap;
every class learnt."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

ROWS = ("adaptseg", "random", "fully_supervised")
TARGETS = {"warmup_share": (0.5, 0.7), "recovered": (0.35, 0.65), "classes_iou_10_of_19": 17}


@dataclass(frozen=True)
class Regime:
    warmup: float
    random: float
    full: float
    classes_learnt: int      # classes with IoU >= 10 under full supervision (mean over seeds)
    classes: int

    @property
    def recovered(self) -> float | None:
        """(random - warm-up) / (fully supervised - warm-up); None when full supervision is not above
        the warm-up (no gap to recover, e.g. a tiny test run)."""
        gap = self.full - self.warmup
        return (self.random - self.warmup) / gap if gap > 0 else None

    @property
    def warmup_share(self) -> float | None:
        return self.warmup / self.full if self.full > 0 else None

    @property
    def full_above_random(self) -> float:
        return self.full - self.random

    def in_regime(self) -> bool:
        (w0, w1), (r0, r1) = TARGETS["warmup_share"], TARGETS["recovered"]
        return (self.recovered is not None and self.warmup_share is not None and w0 <= self.warmup_share <= w1
                and r0 <= self.recovered <= r1
                and self.classes_learnt >= round(TARGETS["classes_iou_10_of_19"] * self.classes / 19))

    def sentence(self) -> str:
        gap = (f"random images recover {self.recovered:.0%} of the gap" if self.recovered is not None
               else "there is no gap to recover")
        share = f"{self.warmup_share:.2f}" if self.warmup_share is not None else "-"
        return (f"Regime: the AdaptSeg warm-up ({self.warmup:.1f}) is {share} of full supervision ({self.full:.1f}; "
                f"papers about 0.6, bound 0.5-0.7); {gap} (papers about 50%, bound 35-65%); full supervision is "
                f"{self.full_above_random:.1f} mIoU above random ({self.random:.1f}) and reaches IoU >= 10 on "
                f"{self.classes_learnt} of {self.classes} classes (bound 17 of 19). All of R1-R5: target proxy_regime.")


def regime(df: pd.DataFrame, classes: list[str]) -> Regime | None:
    """The regime of a table frame (adaseg.report.tables.build_table) holding the warm-up, random
    and fully supervised rows; None if it lacks one of them."""
    rep = df[df["values"] != "published"].set_index("row")
    if not set(ROWS) <= set(rep.index):
        return None
    full = rep.loc["fully_supervised"]
    return Regime(float(rep.loc["adaptseg", "mIoU"]), float(rep.loc["random", "mIoU"]), float(full["mIoU"]),
                  int(sum(pd.notna(full[c]) and float(full[c]) >= 10 for c in classes)), len(classes))


# --- the papers' regime, checked on a benchmark (target proxy_regime) -------------------------------
# R1-R5 and where each bound comes from (GTA5 -> Cityscapes, 5%, DeepLabV3+ ResNet-101):
PAPER_REGIME = {
    "R1": "AdaptSeg warm-up mIoU / fully supervised mIoU between 0.5 and 0.7 (MADA Table 3: 42.5 / 69.3 = 0.61)",
    "R2": "random images recover 35-65% of the warm-up -> full-supervision gap (MADA: 42.5 -> 56.7 of 69.3, 53%)",
    "R3": "random 3x3 squares and random superpixels each at least match random images (papers: about +7 mIoU; "
          "RIPU RAND 63.8 at 2.2%, D2ADA RAND 63.5 at 5%, MADA random images 56.7 at 5%)",
    "R4": "the warm-up predicts at least 17 of 19 classes on the target pool, and full supervision reaches IoU >= 10 "
          "on at least 17 of 19 (the papers' warm-ups and upper bounds predict every class)",
    "R5": "the best oracle of each unit (images, squares, superpixels) is at least 3 mIoU above that unit's random "
          "selection, with a 95% paired interval excluding 0 (selection can matter on the benchmark)",
}
# the rows of table_oracles_gta the regime reads, per unit: (random row, oracle rows)
REGIME_UNITS = {"image": ("random", ("oracle_loss", "oracle_balanced")),
                "square": ("random_squares", ("oracle_squares", "oracle_squares_balanced")),
                "superpixel": ("random_superpixels", ("oracle_superpixels", "oracle_superpixels_balanced"))}
REGIME_ROWS = ("adaptseg", "fully_supervised") + tuple(
    r for ref, oracles in REGIME_UNITS.values() for r in (ref, *oracles))


def _by_seed(runs: dict[int, dict], key: str = "miou") -> dict[int, float]:
    return {s: float(ev[key]) for s, ev in runs.items()}


def _mean(values) -> float:
    v = list(values)
    return float(sum(v) / len(v))


def paper_regime(evals: dict[str, dict[int, dict]], predicted_classes: dict[int, int], num_classes: int,
                 scale_classes: float | None = None) -> dict:
    """R1-R5 of a benchmark from evaluation dicts (row -> seed -> evaluation JSON) of REGIME_ROWS and
    the number of classes each seed's warm-up predicts on the target pool; each criterion with its
    value(s), bound and pass/fail. Class counts are out of 19 (scaled to the label space otherwise)."""
    from .stats import paired_difference, summarize

    missing = [r for r in REGIME_ROWS if r not in evals]
    if missing:
        raise ValueError(f"the regime needs evaluations of the rows {missing}")
    need = round(17 * num_classes / 19)
    warm, full = _by_seed(evals["adaptseg"]), _by_seed(evals["fully_supervised"])
    rand = _by_seed(evals["random"])
    out: dict = {}
    ratio = _mean(warm.values()) / _mean(full.values()) if _mean(full.values()) > 0 else None
    out["R1"] = dict(value=ratio, warmup=asdict(summarize(warm.values())), full=asdict(summarize(full.values())),
                     bound=[0.5, 0.7], passed=ratio is not None and 0.5 <= ratio <= 0.7)
    gap = _mean(full.values()) - _mean(warm.values())
    rec = (_mean(rand.values()) - _mean(warm.values())) / gap if gap > 0 else None
    out["R2"] = dict(value=rec, random_images=asdict(summarize(rand.values())), bound=[0.35, 0.65],
                     passed=rec is not None and 0.35 <= rec <= 0.65)
    r3 = {}
    for unit in ("square", "superpixel"):
        d = paired_difference(_by_seed(evals[REGIME_UNITS[unit][0]]), rand)
        r3[unit] = None if d is None else asdict(d)
    out["R3"] = dict(value={u: (v or {}).get("mean") for u, v in r3.items()}, differences=r3, bound=">= 0",
                     passed=all(v is not None and v["mean"] >= 0 for v in r3.values()))
    full_iou = {c: _mean(float(ev["iou"][c] or 0.0) for ev in evals["fully_supervised"].values())
                for c in next(iter(evals["fully_supervised"].values()))["classes"]}
    learnt = sum(v >= 10 for v in full_iou.values())
    fewest = min(predicted_classes.values()) if predicted_classes else None
    out["R4"] = dict(value={"warmup_predicted_classes": fewest, "full_classes_iou_at_least_10": learnt},
                     predicted_per_seed={str(s): n for s, n in sorted(predicted_classes.items())},
                     bound=f">= {need} of {num_classes} each", passed=fewest is not None and fewest >= need and learnt >= need)
    r5 = {}
    for unit, (ref, oracles) in REGIME_UNITS.items():
        base = _by_seed(evals[ref])
        diffs = {o: paired_difference(_by_seed(evals[o]), base) for o in oracles}
        best = max(oracles, key=lambda o: -1e9 if diffs[o] is None else diffs[o].mean)
        d = diffs[best]
        r5[unit] = dict(best=best, difference=None if d is None else asdict(d),
                        passed=d is not None and d.mean >= 3 and d.low is not None and d.low > 0)
    out["R5"] = dict(value={u: (v["difference"] or {}).get("mean") for u, v in r5.items()}, units=r5,
                     bound=">= 3 mIoU, 95% interval excluding 0", passed=all(v["passed"] for v in r5.values()))
    for k, v in out.items():
        v["criterion"] = PAPER_REGIME[k]
    out["all_passed"] = all(out[k]["passed"] for k in PAPER_REGIME)
    return out


def regime_markdown(result: dict, title: str = "Proxy regime (R1-R5)") -> str:
    """A short table of R1-R5: value, bound, pass/fail."""
    def val(k):
        v = result[k]["value"]
        if isinstance(v, dict):
            return ", ".join(f"{u}: {'-' if x is None else (f'{x:+.1f}' if isinstance(x, float) else x)}"
                             for u, x in v.items())
        return "-" if v is None else f"{v:.2f}"
    lines = [f"# {title}", "", "| | criterion | value | bound | passed |", "|---|---|---|---|---|"]
    for k in PAPER_REGIME:
        r = result[k]
        bound = r["bound"] if isinstance(r["bound"], str) else f"{r['bound'][0]}-{r['bound'][1]}"
        lines.append(f"| {k} | {r['criterion']} | {val(k)} | {bound} | {'yes' if r['passed'] else 'no'} |")
    lines += ["", f"All passed: {'yes' if result['all_passed'] else 'no'}.", ""]
    return "\n".join(lines)


def predicted_classes(target_dump: str | Path) -> int:
    """How many classes a model predicts anywhere on the target pool, from its target feature dump
    (the per-image class pixel counts of its argmax, at the feature map's resolution)."""
    from ..io import read_features

    _, counts = read_features(target_dump, "counts")
    return int((counts.reshape(counts.shape[0], -1).sum(0) > 0).sum())


def write_regime(evals: dict[str, dict[int, str]], warmup_dumps: dict[int, str], prefix: str | Path) -> dict:
    """PREFIX.json (R1-R5 with values, bounds, pass/fail and the files they come from) and PREFIX.md."""
    from ..io import read_json, write_json, write_text

    runs = {k: {s: read_json(p) for s, p in v.items()} for k, v in evals.items()}
    num_classes = len(next(iter(runs["fully_supervised"].values()))["classes"])
    result = paper_regime(runs, {s: predicted_classes(p) for s, p in warmup_dumps.items()}, num_classes)
    result["sources"] = {k: {str(s): str(p) for s, p in v.items()} for k, v in evals.items()}
    result["warmup_dumps"] = {str(s): str(p) for s, p in warmup_dumps.items()}
    prefix = Path(prefix)
    write_json(prefix.with_suffix(".json"), result)
    write_text(prefix.with_suffix(".md"), regime_markdown(result))
    return result
