"""Result tables (CSV, Markdown, LaTeX) built only from evaluation files the pipeline wrote,
with the papers' numbers beside them in columns labelled as published."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import read_json, write_json, write_text
from .published import PUBLISHED_GTA

# table name -> (title, rows: key -> (label, published key or None), protocol footnote)
TABLES = {
    "table1_gta": (
        "GTA5 -> Cityscapes (proxy benchmark unless configured otherwise): per-class IoU and mIoU (%)",
        {
            "source_only": ("Source only", None),
            "adaptseg": ("AdaptSeg warm-up", "adaptseg"),
            "random": ("Random 5% (stage 1)", "random"),
            "mada_stage1": ("MADA 5% stage 1", "mada_stage1"),
            "mada_full": ("MADA 5% (stage 1 + 2)", "mada_full"),
            "madav2": ("MADAv2 5% (stage 1 + semi-supervised step 3)", "madav2"),
            "ripu_ra_2p2": ("RIPU RA 2.2% (5 rounds)", "ripu_ra_2.2"),
            "ripu_ra": ("RIPU RA 5% (5 rounds)", "ripu_ra_5"),
            "ripu_pa": ("RIPU PA (pixels per image, 5 rounds)", "ripu_pa"),
            "d2ada": ("D2ADA 5% (5 rounds of 1%)", "d2ada"),
            "mcu": ("ADA-MCU 5% (pixels, multi-level contrastive units)", "mcu"),
            "fully_supervised": ("Fully supervised (source + all target labels)", "fully_supervised"),
        },
        "Budget: counted in labelled target pixels (5% of the target training pixels): whole images for "
        "random/MADA/MADAv2, squares for RIPU RA, superpixels for D2ADA, pixels for ADA-MCU; RIPU PA takes "
        "ripu.pa_pixels_per_image pixels per image. Multi-round methods split the budget and one training "
        "schedule into multi_round.rounds rounds. "
        "Evaluation: target val split at the configured dataset resolution, confusion-matrix mIoU over the "
        "classes of the label space. Model selection: none; the final checkpoint of every run is evaluated "
        "(the official MADA code picks its best checkpoint on Cityscapes val). Published values are from the "
        "paper with DeepLabV3+ ResNet-101 on the real datasets; they are not comparable to proxy numbers.",
    ),
    "table_selection_gta": (
        "Selection strategies, GTA5 -> Cityscapes, equal budget, each fine-tuned with source + active CE "
        "(stage 1, no unlabelled target data): per-class IoU and mIoU (%)",
        {
            "random": ("Random", "madav2_t3_random"),
            "entropy": ("Entropy (AdvEnt)", "madav2_t3_entropy"),
            "confidence": ("Softmax confidence", None),
            "margin": ("Margin", None),
            "adversarial": ("Adversarial (discriminator, eq. 17)", "madav2_t3_adversarial"),
            "aada": ("AADA (eq. 18)", "madav2_t3_aada"),
            "prototype": ("Prototype (single centroid, eq. 19)", "madav2_t3_prototype"),
            "coreset": ("Core-set", None),
            "badge": ("BADGE", None),
            "clue": ("CLUE", None),
            "mada": ("MADA (source anchors)", "madav2_t3_mada"),
            "madav2": ("MADAv2 (Dual_Domain_Distance)", "madav2_t3_madav2"),
            "ripu_ra": ("RIPU RA (one round, squares)", None),
            "ripu_pa": ("RIPU PA (one round, pixels)", None),
            "mcu": ("ADA-MCU uncertainty + adaptive sampling (pixels)", None),
            "d2ada": ("D2ADA density + entropy (one round, superpixels)", None),
            "region_entropy": ("Entropy (superpixel regions)", None),
        },
        "Budget: labelled target pixels; image-level strategies take whole images up to the configured "
        "percentage of the target training pixels, RIPU RA takes squares up to the same percentage of each "
        "image, RIPU PA takes ripu.pa_pixels_per_image pixels per image (far fewer pixels). Every strategy scores the target images with the same "
        "AdaptSeg warm-up model and is fine-tuned from it with the same stage-1 schedule. Evaluation: target val "
        "split, confusion-matrix mIoU. Model selection: none (final checkpoints). Published values: MADAv2 "
        "Table 3 (ResNet-101, real datasets, 5%); not comparable to proxy numbers.",
    ),
}


def _fmt(v) -> str:
    return "-" if v is None or v != v else f"{v:.1f}"


def build_table(name: str, evals: dict[str, str]) -> tuple[pd.DataFrame, str, str]:
    title, spec, note = TABLES[name]
    unknown = set(evals) - set(spec)
    if unknown:
        raise ValueError(f"{name} has no rows {sorted(unknown)} (rows: {', '.join(spec)})")
    records = []
    classes = None
    for key, (label, pub) in spec.items():
        if key not in evals:
            continue
        ev = read_json(evals[key])
        classes = classes or ev["classes"]
        rec = {"row": key, "method": label, "values": "reproduced (adaseg)", "source": str(evals[key])}
        rec.update({c: ev["iou"][c] for c in ev["classes"]})
        rec["mIoU"] = ev["miou"]
        if "miou13" in ev:
            rec["mIoU13"] = ev["miou13"]
        p = PUBLISHED_GTA.get(pub) if pub else None
        rec["published mIoU"] = p["miou"] if p else None
        rec["published in"] = p["reference"] if p else ""
        records.append(rec)
    for key, (label, pub) in spec.items():
        p = PUBLISHED_GTA.get(pub) if pub else None
        if not p or p["iou"] is None:
            continue
        rec = {"row": key, "method": label, "values": "published", "source": p["reference"]}
        rec.update(p["iou"])
        rec["mIoU"] = p["miou"]
        records.append(rec)
    return pd.DataFrame.from_records(records), title, note


def to_markdown(df: pd.DataFrame, title: str, note: str, classes: list[str]) -> str:
    rep = df[df["values"] != "published"]
    pub = df[df["values"] == "published"]
    cols = ["method"] + classes + ["mIoU"]
    lines = [f"# {title}", "", "## Reproduced by this pipeline (every number computed from the files in `source`)", ""]
    head = cols + ["published mIoU", "published in"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for _, r in rep.iterrows():
        cells = [r["method"]] + [_fmt(r[c]) for c in classes + ["mIoU", "published mIoU"]] + [r["published in"] or "-"]
        lines.append("| " + " | ".join(cells) + " |")
    if len(pub):
        lines += ["", "## Published (copied from the paper, labelled as published)", ""]
        lines.append("| " + " | ".join(cols + ["published in"]) + " |")
        lines.append("|" + "---|" * (len(cols) + 1))
        for _, r in pub.iterrows():
            lines.append("| " + " | ".join([r["method"]] + [_fmt(r[c]) for c in classes + ["mIoU"]] + [r["source"]]) + " |")
    lines += ["", f"Protocol: {note}", ""]
    return "\n".join(lines)


def to_latex(df: pd.DataFrame, title: str, classes: list[str]) -> str:
    cols = ["method"] + classes + ["mIoU"]
    out = df[["values"] + cols].copy()
    for c in classes + ["mIoU"]:
        out[c] = out[c].map(_fmt)
    return out.to_latex(index=False, caption=title.replace("%", r"\%"), escape=True)


def write_table(name: str, evals: dict[str, str], prefix: str | Path) -> pd.DataFrame:
    df, title, note = build_table(name, evals)
    if df.empty:
        raise ValueError(f"{name}: no rows")
    classes = read_json(next(iter(evals.values())))["classes"]
    prefix = Path(prefix)
    write_text(prefix.with_suffix(".csv"), df.to_csv(index=False))
    write_text(prefix.with_suffix(".md"), to_markdown(df, title, note, classes))
    write_text(prefix.with_suffix(".tex"), to_latex(df, title, classes))
    rep = df[df["values"] != "published"]
    # for `dvc metrics show` and `dvc plots show`
    write_json(prefix.with_suffix(".metrics.json"), {r["row"]: {"mIoU": r["mIoU"]} for _, r in rep.iterrows()})
    write_text(prefix.with_suffix(".miou.csv"), rep[["row", "mIoU"]].to_csv(index=False))
    return df
