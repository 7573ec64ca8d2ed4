"""Result tables (CSV, Markdown, LaTeX, HTML, DVC metrics) built only from evaluation files the
pipeline wrote, with the papers' numbers beside them in columns labelled as published.

Every reproduced row summarizes the runs of its method at every seed: per-class IoU and mIoU as the
mean over the seeds, mIoU also with its sample standard deviation and n; the column "Δ vs random"
is the mean paired difference to the random selection of the row's own unit (random images, 3x3
squares, pixels or superpixels; named in the column "random reference") at the same budget, rounds
and seed, with a 95% paired-t interval (adaseg.report.stats); an interval that contains 0 is marked "n.s." (not
significant)."""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from ..errors import InputFileError
from ..io import read_json, write_json, write_text
from ..registry import Scale, table
from ..registry.tables import REFERENCE
from . import published as published_values
from .regime import regime
from .stats import LEVEL, paired_difference, summarize

Runs = dict[str, dict[int, str]]     # row key -> seed -> evaluation file
DELTA = f"Δ vs {REFERENCE}"


def _fmt(v) -> str:
    return "-" if v is None or v != v else f"{v:.1f}"


def _seeded(evals) -> Runs:
    """{key: path} (one run, seed 0) or {key: {seed: path}} -> {key: {seed: path}}."""
    return {k: ({0: v} if isinstance(v, (str, Path)) else {int(s): p for s, p in v.items()}) for k, v in evals.items()}


def stats_note(scale: Scale, versus: str = REFERENCE) -> str:
    shared = (f" The warm-ups are trained once (seed {scale.seeds[0]}) and shared by every seed's runs "
              "(warmup.per_seed: false), so their rows have n = 1." if not scale.warmup_per_seed else
              " Every seed trains its own warm-ups (warmup.per_seed: true).")
    compared = (f"{DELTA}: the mean paired difference in mIoU to the random selection of the row's own unit "
                "(column 'random reference': random images for image-level rows, random 3x3 squares, pixels or "
                "superpixels for the region and pixel rows, with the row's objective) at the same budget, rounds and "
                "seed" if versus == REFERENCE else
                f"Δ vs {versus}: the mean paired difference in mIoU to the same method with the official code's "
                f"defaults (column '{versus} reference') at the same seed")
    return (f"Values: mean over n seeds (seeds {', '.join(map(str, scale.seeds))}); mIoU ± its sample standard "
            f"deviation. {compared}, with its {LEVEL:.0%} interval from Student's t for paired samples (n - 1 degrees of "
            "freedom); 'n.s.' marks a difference whose interval contains 0 (not significant), '-' fewer than 2 pairs."
            + shared)


# what every evaluation of one table must share (written by adaseg evaluate)
SAME_IN_A_TABLE = ("label_space", "dataset", "split")


def check_comparable(name: str, paths) -> None:
    """An InputFileError naming two evaluation files of table `name` that were computed on different
    label spaces, datasets or splits (a 16-class and a 19-class evaluation in one table, or an old
    Cityscapes evaluation in a results folder now run for another target)."""
    first = None
    for path in paths:
        e = read_json(path)
        got = {k: e.get(k) for k in SAME_IN_A_TABLE}
        if first is None:
            first = (path, got)
        elif got != first[1]:
            k = next(k for k in SAME_IN_A_TABLE if got[k] != first[1][k])
            raise InputFileError(f"{name}: evaluation '{path}' has {k} {got[k]!r} but '{first[0]}' has {first[1][k]!r}; "
                                 "a table compares evaluations of one label space, dataset and split: delete the "
                                 "stale evaluations (or use another results folder) and rerun")


def build_table(name: str, evals, scale: Scale, references=None) -> tuple[pd.DataFrame, str, str]:
    """Rows in the order of the registry's table `name` (src/adaseg/registry/tables.py); labels and
    notes filled with the run's budget and rounds. `evals` and `references`: row key -> seed ->
    evaluation file (or row key -> file for one run); all of one label space, dataset and split
    (check_comparable)."""
    t = table(name)
    evals, refs = _seeded(evals), _seeded(references or {})
    check_comparable(name, [p for runs in (*evals.values(), *refs.values()) for p in runs.values()])
    spec = {r.key: (r.label, r.published) for r in t.rows_at(scale)}
    ref_labels = t.reference_labels(scale)
    title, note = t.title_at(scale), t.note_at(scale)
    published = getattr(published_values, t.published)
    unknown = set(evals) - set(spec)
    if unknown:
        raise ValueError(f"{name} has no rows {sorted(unknown)} (rows: {', '.join(spec)})")
    records = []
    for key, (label, pub) in spec.items():
        if key not in evals:
            continue
        runs = {s: read_json(p) for s, p in sorted(evals[key].items())}
        first = next(iter(runs.values()))
        classes = first["classes"]
        miou = summarize(ev["miou"] for ev in runs.values())
        rec = {"row": key, "method": label, "values": "reproduced (adaseg)", "n": miou.n,
               "seeds": " ".join(map(str, runs)), "source": ";".join(str(evals[key][s]) for s in runs)}
        rec.update({c: _class_mean([ev["iou"][c] for ev in runs.values()]) for c in classes})
        rec["mIoU"], rec["mIoU std"] = miou.mean, miou.std
        if "miou13" in first:
            m13 = summarize(ev["miou13"] for ev in runs.values())
            rec["mIoU13"], rec["mIoU13 std"] = m13.mean, m13.std
        rec.update(_delta(evals[key], refs.get(key), {s: ev["miou"] for s, ev in runs.items()}))
        rec["random reference"] = ref_labels.get(key, "") if refs.get(key) else ""
        p = published.get(pub) if pub else None
        rec["published mIoU"] = p["miou"] if p else None
        if "miou13" in first:
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


def _class_mean(values: list) -> float | None:
    """The mean IoU of a class over the seeds whose evaluation has it (None: absent from the split)."""
    present = [v for v in values if v is not None]
    return summarize(present).mean if present else None


def _delta(runs: dict[int, str], ref_runs: dict[int, str] | None, miou: dict[int, float]) -> dict:
    empty = {DELTA: None, "Δ low": None, "Δ high": None, "significant": None, "reference": ""}
    if not ref_runs:
        return empty
    if {s: str(p) for s, p in runs.items()} == {s: str(p) for s, p in ref_runs.items()}:
        return dict(empty, reference="this row")
    d = paired_difference(miou, {s: read_json(p)["miou"] for s, p in ref_runs.items()})
    if d is None:
        return empty
    return {DELTA: d.mean, "Δ low": d.low, "Δ high": d.high, "significant": d.significant,
            "reference": ";".join(str(ref_runs[s]) for s in sorted(ref_runs))}


def _mean_std(r, col: str) -> str:
    std = r.get(f"{col} std")
    return _fmt(r.get(col)) + ("" if std is None or std != std else f" ± {std:.1f}")


def _delta_cell(r, minus: str = "-") -> str:
    """'+1.2 [-0.3, +2.7] n.s.', 'reference' or '-'."""
    if r.get("reference") == "this row":
        return "reference"
    d = r.get(DELTA)
    if d is None or d != d:
        return "-"
    sign = lambda v: f"{v:+.1f}".replace("-", minus)
    low, high = r.get("Δ low"), r.get("Δ high")
    if low is None or low != low:
        return f"{sign(d)} (n = 1)"
    return f"{sign(d)} [{sign(low)}, {sign(high)}]" + ("" if r.get("significant") else " n.s.")


def to_markdown(df: pd.DataFrame, title: str, note: str, classes: list[str], versus: str = REFERENCE) -> str:
    rep = df[df["values"] != "published"]
    pub = df[df["values"] == "published"]
    m13 = ["mIoU13"] if "mIoU13" in df else []
    cols = ["method"] + classes + ["mIoU"] + m13
    lines = [f"# {title}", "", "## Reproduced by this pipeline (every number computed from the files in `source`)", ""]
    pub_cols = ["published mIoU"] + (["published mIoU13"] if m13 else [])
    head = (["method", "n"] + classes + ["mIoU"] + m13 + [f"Δ vs {versus} ({LEVEL:.0%} CI)", f"{versus} reference"] + pub_cols
            + ["published in"])
    lines.append("| " + " | ".join(head).replace("mIoU13", "mIoU*") + " |")
    lines.append("|" + "---|" * len(head))
    for _, r in rep.iterrows():
        cells = ([r["method"], str(int(r["n"]))] + [_fmt(r.get(c)) for c in classes]
                 + [_mean_std(r, c) for c in ["mIoU"] + m13] + [_delta_cell(r), r.get("random reference") or "-"]
                 + [_fmt(r.get(c)) for c in pub_cols] + [r["published in"] or "-"])
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


def _tex(text: str) -> str:
    for a, b in [("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                 ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}")]:
        text = text.replace(a, b) if a != "\\" else text.replace(a, "\0")
    return text.replace("\0", r"\textbackslash{}")


def to_latex(df: pd.DataFrame, title: str, classes: list[str], versus: str = REFERENCE) -> str:
    """A booktabs table: reproduced rows (n, means, mIoU $\\pm$ std, Δ vs random with its interval;
    n.s. = not significant), then the published rows."""
    m13 = ["mIoU13"] if "mIoU13" in df else []
    head = ["", "method", "n"] + classes + ["mIoU"] + (["mIoU*"] if m13 else []) + [rf"$\Delta$ vs {versus}"]
    lines = [r"\begin{table}", rf"\caption{{{_tex(title)}}}", r"\begin{tabular}{" + "l" * 2 + "r" * (len(head) - 2) + "}",
             r"\toprule", " & ".join(_tex(h) if not h.startswith("$") else h for h in head) + r" \\", r"\midrule"]
    for _, r in df.iterrows():
        rep = r["values"] != "published"
        nums = [_fmt(r.get(c)) for c in classes]
        if rep:
            nums += [_mean_std(r, c).replace("±", r"$\pm$") for c in ["mIoU"] + m13] + [_delta_cell(r, "$-$")]
            n = str(int(r["n"]))
        else:
            nums += [_fmt(r.get(c)) for c in ["mIoU"] + m13] + ["-"]
            n = "-"
        lines.append(" & ".join([_tex(r["values"]), _tex(r["method"]), n] + nums) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def to_html(df: pd.DataFrame, title: str, note: str, classes: list[str], versus: str = REFERENCE) -> str:
    """A self-contained HTML page of the table (for the Snakemake report): reproduced rows (not
    significant differences in grey, marked n.s.), the published rows labelled as such, and the
    protocol footnote."""
    m13 = ["mIoU13"] if "mIoU13" in df else []
    parts = [f"<h3>{html.escape(title)}</h3>"]
    rep, pub = df[df["values"] != "published"], df[df["values"] == "published"]
    head = ["method", "n"] + classes + ["mIoU"] + (["mIoU*"] if m13 else []) + [f"Δ vs {versus} ({LEVEL:.0%} CI)",
                                                                                f"{versus} reference", "published mIoU",
                                                                                "published in"]
    rows = []
    for _, r in rep.iterrows():
        cells = ([html.escape(r["method"]), str(int(r["n"]))] + [_fmt(r.get(c)) for c in classes]
                 + [html.escape(_mean_std(r, c)) for c in ["mIoU"] + m13])
        delta = html.escape(_delta_cell(r))
        cells.append(f'<span class="ns" style="color:#888">{delta}</span>' if r.get("significant") is False else delta)
        cells.append(html.escape(r.get("random reference") or "-"))
        cells += [_fmt(r.get("published mIoU")), html.escape(r["published in"] or "-")]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    parts += ["<h4>Reproduced by this pipeline</h4>", '<table border="1" class="dataframe">',
              "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead>",
              "<tbody>", *rows, "</tbody></table>"]
    if len(pub):
        nums = classes + ["mIoU"] + m13
        out = pub[["method"] + nums + ["source"]].copy()
        for c in nums:
            out[c] = out[c].map(_fmt)
        parts += ["<h4>Published (copied from the papers, labelled as published)</h4>",
                  out.rename(columns={"mIoU13": "mIoU*"}).to_html(index=False, na_rep="-")]
    parts.append(f"<p><small>Protocol: {html.escape(note)}</small></p>")
    return "<html><body>\n" + "\n".join(parts) + "\n</body></html>\n"


def evaluation_protocol(paths) -> str:
    """What the evaluation files say about how they were computed (resolution, TTA, pixels), for the
    footnote; one sentence per distinct protocol."""
    seen: dict[str, list[int]] = {}
    for path in paths:
        e = read_json(path)
        key = f"{e.get('protocol', 'confusion matrix at the images as read')} on {e.get('images')} {e.get('dataset')} {e.get('split')} images"
        seen.setdefault(key, []).append(int(e.get("pixels", 0)))
    return " ".join(f"Evaluation: {k}, {max(px):,} labelled pixels." if max(px) else f"Evaluation: {k}."
                    for k, px in seen.items())


def write_table(name: str, evals, prefix: str | Path, scale: Scale, references=None) -> pd.DataFrame:
    """PREFIX.csv/.md/.tex/.html, .metrics.json (mean, std and n of every row, for `dvc metrics`)
    and .miou.csv (for `dvc plots`); the protocol footnote says how the seeds are summarized and how
    the evaluation files were computed (resolution, flip TTA, pixel count)."""
    evals = _seeded(evals)
    df, title, note = build_table(name, evals, scale, references)
    if df.empty:
        raise ValueError(f"{name}: no rows")
    paths = [p for runs in evals.values() for p in runs.values()]
    classes = read_json(paths[0])["classes"]
    versus = table(name).versus
    where = regime(df, classes) if versus == REFERENCE else None
    note += " " + stats_note(scale, versus) + " " + evaluation_protocol(paths)
    note += f" {where.sentence()}" if where else ""
    prefix = Path(prefix)
    write_text(prefix.with_suffix(".csv"), df.rename(columns={DELTA: f"Δ vs {versus}", "random reference": f"{versus} reference"})
               .to_csv(index=False))
    write_text(prefix.with_suffix(".md"), to_markdown(df, title, note, classes, versus))
    write_text(prefix.with_suffix(".tex"), to_latex(df, title, classes, versus))
    write_text(prefix.with_suffix(".html"), to_html(df, title, note, classes, versus))
    rep = df[df["values"] != "published"]
    finite = lambda v: None if v is None or v != v else v   # NaN (no value) is null in JSON, never NaN
    metric = lambda r, c: {c: r[c], f"{c}_std": finite(r[f"{c} std"])}
    metrics = {
        r["row"]: {**metric(r, "mIoU"), **(metric(r, "mIoU13") if "mIoU13" in rep else {}), "n": int(r["n"]),
                   **({f"delta_vs_{versus}": r[DELTA], "delta_low": finite(r["Δ low"]), "delta_high": finite(r["Δ high"])}
                      if r[DELTA] == r[DELTA] and r[DELTA] is not None else {})}
        for _, r in rep.iterrows()}
    if where:   # the regime of the benchmark (adaseg.report.regime)
        metrics["regime"] = {"warmup_share": where.warmup_share, "recovered": where.recovered,
                             "full_above_random": where.full_above_random,
                             "classes_learnt": where.classes_learnt}
    write_json(prefix.with_suffix(".metrics.json"), metrics)
    write_text(prefix.with_suffix(".miou.csv"), rep[["row", "mIoU", "mIoU std"]].rename(columns={"mIoU std": "mIoU_std"})
               .to_csv(index=False))
    return df
