"""Result tables (CSV, Markdown, LaTeX) built only from evaluation files the pipeline wrote,
with the papers' numbers beside them in columns labelled as published."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import read_json, write_json, write_text
from ..registry import Scale, table
from . import published as published_values


def _fmt(v) -> str:
    return "-" if v is None or v != v else f"{v:.1f}"


def build_table(name: str, evals: dict[str, str], scale: Scale) -> tuple[pd.DataFrame, str, str]:
    """Rows in the order of the registry's table `name` (src/adaseg/registry/tables.py); labels and
    notes filled with the run's budget and rounds."""
    t = table(name)
    spec = {r.key: (r.label, r.published) for r in t.rows_at(scale)}
    title, note = t.title_at(scale), t.note_at(scale)
    published = getattr(published_values, t.published)
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
        p = published.get(pub) if pub else None
        rec["published mIoU"] = p["miou"] if p else None
        if "miou13" in ev:
            rec["published mIoU13"] = p.get("miou13") if p else None
        rec["published in"] = p["reference"] if p else ""
        records.append(rec)
    for key, (label, pub) in spec.items():
        p = published.get(pub) if pub else None
        if not p or p["iou"] is None:
            continue
        rec = {"row": key, "method": label, "values": "published", "source": p["reference"]}
        rec.update(p["iou"])
        rec["mIoU"] = p["miou"]
        if p.get("miou13") is not None:
            rec["mIoU13"] = p["miou13"]
        records.append(rec)
    return pd.DataFrame.from_records(records), title, note


def to_markdown(df: pd.DataFrame, title: str, note: str, classes: list[str]) -> str:
    rep = df[df["values"] != "published"]
    pub = df[df["values"] == "published"]
    m13 = ["mIoU13"] if "mIoU13" in df else []
    cols = ["method"] + classes + ["mIoU"] + m13
    lines = [f"# {title}", "", "## Reproduced by this pipeline (every number computed from the files in `source`)", ""]
    pub_cols = ["published mIoU"] + (["published mIoU13"] if m13 else [])
    head = cols + pub_cols + ["published in"]
    lines.append("| " + " | ".join(head).replace("mIoU13", "mIoU*") + " |")
    lines.append("|" + "---|" * len(head))
    for _, r in rep.iterrows():
        cells = [r["method"]] + [_fmt(r.get(c)) for c in classes + ["mIoU"] + m13 + pub_cols] + [r["published in"] or "-"]
        lines.append("| " + " | ".join(cells) + " |")
    if len(pub):
        lines += ["", "## Published (copied from the papers, labelled as published)", ""]
        lines.append("| " + " | ".join(cols + ["published in"]).replace("mIoU13", "mIoU*") + " |")
        lines.append("|" + "---|" * (len(cols) + 1))
        for _, r in pub.iterrows():
            cells = [r["method"]] + [_fmt(r.get(c)) for c in classes + ["mIoU"] + m13] + [r["source"]]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Protocol: {note}", ""]
    return "\n".join(lines)


def to_latex(df: pd.DataFrame, title: str, classes: list[str]) -> str:
    nums = classes + ["mIoU"] + (["mIoU13"] if "mIoU13" in df else [])
    cols = ["method"] + nums
    out = df[["values"] + cols].copy()
    for c in nums:
        out[c] = out[c].map(_fmt)
    return out.to_latex(index=False, caption=title.replace("%", r"\%"), escape=True)


def to_html(df: pd.DataFrame, title: str, note: str, classes: list[str]) -> str:
    """A self-contained HTML page of the table (for the Snakemake report): reproduced rows, the
    published rows labelled as such, and the protocol footnote."""
    import html
    m13 = ["mIoU13"] if "mIoU13" in df else []
    nums = classes + ["mIoU"] + m13
    parts = [f"<h3>{html.escape(title)}</h3>"]
    for kind, heading, extra in [("rep", "Reproduced by this pipeline", ["published mIoU", "published in"]),
                                 ("pub", "Published (copied from the papers, labelled as published)", ["source"])]:
        part = df[(df["values"] == "published") == (kind == "pub")]
        if not len(part):
            continue
        cols = ["method"] + nums + [c for c in extra if c in part]
        out = part[cols].copy()
        for c in nums + (["published mIoU"] if "published mIoU" in cols else []):
            out[c] = out[c].map(_fmt)
        parts += [f"<h4>{heading}</h4>", out.rename(columns={"mIoU13": "mIoU*"}).to_html(index=False, na_rep="-")]
    parts.append(f"<p><small>Protocol: {html.escape(note)}</small></p>")
    return "<html><body>\n" + "\n".join(parts) + "\n</body></html>\n"


def evaluation_protocol(evals: dict[str, str]) -> str:
    """What the evaluation files say about how they were computed (resolution, TTA, pixels), for the
    footnote; one sentence per distinct protocol."""
    seen: dict[str, list[int]] = {}
    for path in evals.values():
        e = read_json(path)
        key = f"{e.get('protocol', 'confusion matrix at the images as read')} on {e.get('images')} {e.get('dataset')} {e.get('split')} images"
        seen.setdefault(key, []).append(int(e.get("pixels", 0)))
    return " ".join(f"Evaluation: {k}, {max(px):,} labelled pixels." if max(px) else f"Evaluation: {k}."
                    for k, px in seen.items())


def write_table(name: str, evals: dict[str, str], prefix: str | Path, scale: Scale) -> pd.DataFrame:
    """PREFIX.csv/.md/.tex/.html, .metrics.json and .miou.csv; the protocol footnote ends with how
    the evaluation files were computed (resolution, flip TTA, pixel count)."""
    df, title, note = build_table(name, evals, scale)
    note += " " + evaluation_protocol(evals)
    if df.empty:
        raise ValueError(f"{name}: no rows")
    classes = read_json(next(iter(evals.values())))["classes"]
    prefix = Path(prefix)
    write_text(prefix.with_suffix(".csv"), df.to_csv(index=False))
    write_text(prefix.with_suffix(".md"), to_markdown(df, title, note, classes))
    write_text(prefix.with_suffix(".tex"), to_latex(df, title, classes))
    write_text(prefix.with_suffix(".html"), to_html(df, title, note, classes))
    rep = df[df["values"] != "published"]
    # for `dvc metrics show` and `dvc plots show`
    extra = (lambda r: {"mIoU13": r["mIoU13"]}) if "mIoU13" in rep else (lambda r: {})
    write_json(prefix.with_suffix(".metrics.json"), {r["row"]: {"mIoU": r["mIoU"], **extra(r)} for _, r in rep.iterrows()})
    write_text(prefix.with_suffix(".miou.csv"), rep[["row", "mIoU"]].to_csv(index=False))
    return df
