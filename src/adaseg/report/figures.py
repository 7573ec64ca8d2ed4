"""The papers' figures (matplotlib, PNG + SVG + the CSV of the plotted numbers), drawn only from
files the pipeline wrote: evaluation reports, feature dumps, selection lists, label masks and
checkpoints."""
from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.labels import CITYSCAPES_CLASSES, IGNORE, SYNTHIA16_CLASSES
from ..io import atomic_path, read_json, write_text
from ..registry import figure as registered_figure
from .stats import summarize

# Cityscapes colour of each of the 19 training ids (the benchmark's published colour map)
CITYSCAPES_PALETTE = np.array([
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
    (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
], dtype=np.uint8)
FIGURE_DPI = 100


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, prefix: str | Path, data: pd.DataFrame) -> None:
    """PREFIX.png, PREFIX.svg and PREFIX.csv (the numbers or files plotted), each written atomically."""
    prefix = Path(prefix)
    for ext in ("png", "svg"):
        with atomic_path(prefix.with_suffix(f".{ext}")) as tmp:
            fig.savefig(tmp, format=ext, dpi=FIGURE_DPI)  # fixed canvas: figsize x FIGURE_DPI pixels
    write_text(prefix.with_suffix(".csv"), data.to_csv(index=False))
    _pyplot().close(fig)


def _wrap(title: str, width_inches: float) -> str:
    """A title broken into lines that fit a figure `width_inches` wide at font size 9."""
    import textwrap
    return textwrap.fill(title, max(30, int(width_inches * 13)))


def class_names(label_space: str) -> tuple[str, ...]:
    return SYNTHIA16_CLASSES if label_space == "synthia16" else CITYSCAPES_CLASSES


def colourize(label: np.ndarray, label_space: str = "cityscapes19") -> np.ndarray:
    """(H, W) training ids -> (H, W, 3) Cityscapes colours; ignored pixels black."""
    palette = CITYSCAPES_PALETTE
    if label_space == "synthia16":
        from ..data.labels import TRAINID19_TO_TRAINID16
        palette = np.zeros((16, 3), np.uint8)
        for c19, c16 in TRAINID19_TO_TRAINID16.items():
            palette[c16] = CITYSCAPES_PALETTE[c19]
    out = np.zeros(label.shape + (3,), np.uint8)
    valid = label != IGNORE
    out[valid] = palette[label[valid]]
    return out


# --- curves: mIoU against a swept quantity (anchors, budget, round) ---------------------------------

def curve_points(points: list[tuple[str, float, str]]) -> pd.DataFrame:
    """(series, x, evaluation file) triples, a point repeated once per seed -> a frame of series, x,
    mIoU (mean over the seeds; mIoU13 too where present), mIoU std (sample, None for one seed), n and
    the source files."""
    runs: dict[tuple[str, float], list[tuple[str, dict]]] = {}
    for series, x, path in points:
        runs.setdefault((series, float(x)), []).append((str(path), read_json(path)))
    rows = []
    for (series, x), evs in runs.items():
        miou = summarize(ev["miou"] for _, ev in evs)
        row = {"series": series, "x": x, "mIoU": miou.mean, "mIoU std": miou.std, "n": miou.n,
               "source": ";".join(p for p, _ in evs)}
        if all("miou13" in ev for _, ev in evs):
            row["mIoU13"] = summarize(ev["miou13"] for _, ev in evs).mean
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["series", "x"], kind="stable").reset_index(drop=True)


def plot_curves(data: pd.DataFrame, prefix: str | Path, title: str, xlabel: str, ylabel: str = "mIoU (%)",
                published: pd.DataFrame | None = None, logx: bool = False) -> None:
    """One line per series (reproduced, solid: the mean over the seeds, with a band of one standard
    deviation); published values, if given, dashed and labelled."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    names = list(dict.fromkeys(list(data["series"]) + ([] if published is None else list(published["series"]))))
    colour = {n: f"C{i % 10}" for i, n in enumerate(names)}  # a series keeps its colour in both styles
    for series, part in data.groupby("series", sort=False):
        ax.plot(part["x"], part["mIoU"], marker="o", color=colour[series], label=f"{series} (reproduced)")
        std = pd.to_numeric(part.get("mIoU std"), errors="coerce") if "mIoU std" in part else None
        if std is not None and std.notna().any():   # one standard deviation over the seeds
            ax.fill_between(part["x"], part["mIoU"] - std.fillna(0), part["mIoU"] + std.fillna(0),
                            color=colour[series], alpha=0.2, linewidth=0)
    if published is not None and len(published):
        for series, part in published.groupby("series", sort=False):
            ax.plot(part["x"], part["mIoU"], marker="x", linestyle="--", color=colour[series],
                    label=f"{series} (published)")
    if logx:  # log axis ticked at the plotted x values, written as plain numbers
        from matplotlib.ticker import NullFormatter, ScalarFormatter
        ax.set_xscale("log")
        ax.set_xticks(sorted(set(data["x"]) | (set() if published is None else set(published["x"]))))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(_wrap(title, 6), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    out = data if published is None else pd.concat(
        [data.assign(values="reproduced (adaseg)"), published.assign(values="published")], ignore_index=True)
    save_figure(fig, prefix, out)
    # the reproduced curves side by side (x, one column per series with the most points, e.g. no
    # single-point 'fully supervised'), the form `dvc plots show` draws (dvc.yaml, top-level plots)
    wide = data.pivot_table(index="x", columns="series", values="mIoU", sort=False)
    wide = wide.loc[:, wide.count() == wide.count().max()].dropna().reset_index()
    write_text(Path(prefix).with_suffix(".wide.csv"), wide.rename_axis(columns=None).to_csv(index=False))


# --- training curves: losses and learning rate per iteration (train_loop's curve CSVs) --------------

def training_curves(runs: dict[str, list[str]]) -> pd.DataFrame:
    """label -> curve CSVs (a chain's rounds, whose iterations continue each other) -> a long frame of
    run, iteration, quantity ('lr' or a loss name), value and the source file."""
    parts = []
    for label, paths in runs.items():
        for path in paths:
            curve = pd.read_csv(path)
            if "iteration" not in curve:
                raise ValueError(f"{path}: not a training curve (no 'iteration' column)")
            long = curve.melt(id_vars="iteration", var_name="quantity", value_name="value").dropna()
            parts.append(long.assign(run=label, file=str(path)))
    return pd.concat(parts, ignore_index=True)[["run", "iteration", "quantity", "value", "file"]]


def plot_training_curves(data: pd.DataFrame, prefix: str | Path, title: str, xlabel: str, smooth: int = 10) -> None:
    """One panel per run: each loss (moving average over `smooth` iterations) on the left axis, the
    learning rate(s) dashed on the right one."""
    plt = _pyplot()
    runs = list(dict.fromkeys(data["run"]))
    cols = min(3, len(runs))
    rows = -(-len(runs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows + 0.6), layout="constrained", squeeze=False)
    for ax, run in zip(axes.flat, runs):
        part = data[data["run"] == run]
        lr_ax = ax.twinx()
        for i, (quantity, q) in enumerate(part.groupby("quantity", sort=False)):
            q = q.sort_values("iteration")
            if quantity.startswith("lr"):
                lr_ax.plot(q["iteration"], q["value"], linestyle="--", color="0.4", linewidth=1, label=quantity)
            else:
                ax.plot(q["iteration"], q["value"].rolling(smooth, min_periods=1).mean(), color=f"C{i % 10}",
                        linewidth=1, label=quantity)
        ax.set_title(run, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("loss")
        lr_ax.set_ylabel("learning rate", fontsize=8)
        lr_ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        handles = [h for a in (ax, lr_ax) for h in a.get_legend_handles_labels()[0]]
        ax.legend(handles=handles, fontsize=6, loc="upper right")
    for ax in list(axes.flat)[len(runs):]:
        ax.axis("off")
    fig.suptitle(_wrap(title, 4 * cols), fontsize=9)
    save_figure(fig, prefix, data)


# --- t-SNE of target features with anchors and selected samples (MADAv2 Fig. 4) ---------------------

def tsne_embedding(vectors: np.ndarray, seed: int, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE (scikit-learn) of the rows of `vectors`; perplexity capped below the number of rows."""
    from sklearn.manifold import TSNE
    perplexity = float(min(perplexity, max(1.0, (len(vectors) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        vectors.astype(np.float64))


def plot_tsne_panels(target: np.ndarray, selected: dict[str, np.ndarray], source_anchors: np.ndarray | None,
                     target_anchors: np.ndarray | None, prefix: str | Path, title: str, seed: int,
                     perplexity: float = 30.0) -> pd.DataFrame:
    """One shared t-SNE of the target image vectors and the anchors; one panel per selection with
    the target images (grey), that selection's images (red), source anchors (blue stars) and target
    anchors (green triangles)."""
    parts = [target] + [a for a in (source_anchors, target_anchors) if a is not None]
    emb = tsne_embedding(np.concatenate(parts), seed, perplexity)
    n = len(target)
    k_s = 0 if source_anchors is None else len(source_anchors)
    kind = np.array(["target"] * n + ["source anchor"] * k_s + ["target anchor"] * (len(emb) - n - k_s), dtype=object)
    frames = []
    for panel, chosen in selected.items():
        k = kind.copy()
        k[:n][chosen] = "selected"
        frames.append(pd.DataFrame({"panel": panel, "kind": k, "x": emb[:, 0], "y": emb[:, 1]}))
    data = pd.concat(frames, ignore_index=True)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(selected), figsize=(5 * len(selected), 5), squeeze=False, layout="constrained")
    style = {"target": dict(c="0.7", s=10, marker="o"), "selected": dict(c="tab:red", s=18, marker="o"),
             "source anchor": dict(c="tab:blue", s=120, marker="*"),
             "target anchor": dict(c="tab:green", s=70, marker="^")}
    for ax, (panel, part) in zip(axes[0], data.groupby("panel", sort=False)):
        for name, st in style.items():
            pts = part[part["kind"] == name]
            if len(pts):
                ax.scatter(pts["x"], pts["y"], label=f"{name} ({len(pts)})", edgecolors="none", **st)
        ax.set_title(panel, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=7)
    fig.suptitle(_wrap(title, 5 * len(selected)), fontsize=9)
    save_figure(fig, prefix, data)
    return data


# --- images: selected regions, qualitative predictions -----------------------------------------------

def plot_image_grid(rows: list[list[np.ndarray]], row_titles: list[str], col_titles: list[str],
                    prefix: str | Path, title: str, sources: dict[str, str]) -> None:
    """A grid of RGB images: one row per target image, one column per view; the CSV lists the
    images shown and the file behind every column (`sources`: column -> file)."""
    plt = _pyplot()
    h, w = rows[0][0].shape[:2]
    panel = 2.4  # inches per image column; rows keep the images' aspect ratio
    fig, axes = plt.subplots(len(rows), len(col_titles), squeeze=False, layout="constrained",
                             figsize=(panel * len(col_titles) + 0.3, panel * h / w * len(rows) + 0.6))
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            ax = axes[i][j]
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col_titles[j], fontsize=7)
            if j == 0:
                ax.set_ylabel(row_titles[i], fontsize=6)
    fig.suptitle(_wrap(title, fig.get_figwidth()), fontsize=9)
    data = pd.DataFrame([{"image id": r, **{c: sources.get(c, "") for c in col_titles}} for r in row_titles])
    save_figure(fig, prefix, data)


def overlay_mask(image: np.ndarray, mask: np.ndarray, colour=(255, 0, 0), alpha: float = 0.6) -> np.ndarray:
    """The image with the labelled pixels (mask > 0) tinted; the rest darkened."""
    out = image.astype(np.float32) * 0.55
    m = mask > 0
    out[m] = image[m].astype(np.float32) * (1 - alpha) + np.asarray(colour, np.float32) * alpha
    return out.clip(0, 255).astype(np.uint8)


def plot_class_frequency(freq: pd.DataFrame, prefix: str | Path, title: str) -> None:
    """Grouped bars: fraction of the labelled pixels per class (columns: series, class, fraction)."""
    plt = _pyplot()
    classes = list(dict.fromkeys(freq["class"]))
    series = list(dict.fromkeys(freq["series"]))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(classes)), 3.6), layout="constrained")
    x = np.arange(len(classes))
    for i, s in enumerate(series):
        part = freq[freq["series"] == s].set_index("class").reindex(classes)
        ax.bar(x + (i - (len(series) - 1) / 2) * width, part["fraction"] * 100, width, label=s)
    ax.set_xticks(x, classes, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("labelled pixels (%)")
    ax.set_yscale("log")
    ax.set_title(_wrap(title, fig.get_figwidth()), fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, prefix, freq)


def _labels_any(mask) -> bool:
    """A selection's mask of one image (True: the whole image, None: nothing) labels some pixel."""
    return mask is True or (mask is not None and bool(mask.any()))


def labelled_class_fractions(label_of, ids, mask_sources: dict, num_classes: int) -> dict[str, np.ndarray]:
    """Fraction of the labelled pixels in each class, per selection. `mask_sources` maps a name to a
    function image id -> (H, W) bool mask of its labelled pixels, True (the whole image) or None
    (nothing); `label_of(id)` gives the ground truth (ignored pixels are not counted). Each label is
    read at most once, and nothing but one image's label and masks is held in memory."""
    counts = {name: np.zeros(num_classes, np.int64) for name in mask_sources}
    for image_id in ids:
        lab = None
        for name, mask_of in mask_sources.items():
            mask = mask_of(image_id)
            if not _labels_any(mask):
                continue
            lab = label_of(image_id) if lab is None else lab
            picked = lab.ravel() if mask is True else lab[mask.astype(bool)]
            picked = picked[picked != IGNORE]
            counts[name] += np.bincount(picked, minlength=num_classes)[:num_classes]
    return {name: c / c.sum() if c.sum() else c.astype(np.float64) for name, c in counts.items()}



def _split_items(items: list[tuple[str, str]], prefix: str) -> list[tuple[str, str]]:
    return [(k.split(":", 1)[1], v) for k, v in items if k.startswith(prefix + ":")]


def _published_curves(key: str | None) -> pd.DataFrame | None:
    from .published import PUBLISHED_CURVES
    if not key:
        return None
    spec = PUBLISHED_CURVES[key]
    return pd.DataFrame([{"series": s, "x": float(x), "mIoU": m, "source": spec["reference"]}
                         for s, pts in spec["series"].items() for x, m in pts])


def _target_train(cfg: dict, label_space: str | None = None):
    from ..data.datasets import open_dataset
    return open_dataset(cfg, cfg["target"], "train", label_space)


def _mask_source(path: str, stack):
    """image id -> labelled-pixel mask of a selection, read on demand: masks.h5 (regions / pixels; the
    file stays open in `stack`) or an image-level selection list (True for a selected image)."""
    if str(path).endswith(".h5"):
        from ..io import open_masks
        ids, masks = stack.enter_context(open_masks(path))
        row = {i: n for n, i in enumerate(ids)}
        from ..io import plane
        return lambda image_id: plane(masks, row[image_id]).astype(bool) if image_id in row else None
    chosen = {e["id"] for e in read_json(path)["selected"]}
    return lambda image_id: True if image_id in chosen else None


def make_figure(cfg: dict, name: str, items: list[tuple[str, str]], prefix: str | Path,
                threads: int | None = None) -> None:
    """Draw figure `name` (src/adaseg/registry/figures.py) from the rule's KEY=PATH items into
    PREFIX.png/.svg/.csv."""
    spec = registered_figure(name)
    kind, title = spec.kind, spec.title
    fcfg = cfg.get("figures") or {}
    if kind == "curve":
        points = []
        for key, path in items:
            series, _, x = key.rpartition("|")
            points.append((series, float(x), path))
        plot_curves(curve_points(points), prefix, title, spec.xlabel, published=_published_curves(spec.published),
                    logx=spec.logx)
    elif kind == "tsne":
        from ..io import read_features
        from ..select.selection_list import read_selection
        feats = dict(items)["features"]
        ids, vectors = read_features(feats)
        panels = _split_items(items, "selection")
        scores = dict(_split_items(items, "scores"))
        anchors_s, anchors_t = None, None
        for label, _ in panels:
            z = np.load(scores[label])
            anchors_s = z["source_anchors"] if anchors_s is None else anchors_s
            if "target_anchors" in z:
                anchors_t = z["target_anchors"]
        pos = {i: n for n, i in enumerate(ids)}
        selected = {label: np.isin(np.arange(len(ids)), [pos[e["id"]] for e in read_selection(path)["selected"]])
                    for label, path in panels}
        plot_tsne_panels(vectors, selected, anchors_s, anchors_t, prefix, title, int(cfg["seed"]),
                         float(fcfg.get("tsne_perplexity", 30)))
    elif kind == "regions":
        ds = _target_train(cfg)
        with contextlib.ExitStack() as stack:
            sources = {label: _mask_source(path, stack) for label, path in _split_items(items, "masks")}
            first = next(iter(sources.values()))
            shown = list(itertools.islice((i for i in ds.ids if _labels_any(first(i))), int(fcfg.get("images", 4))))
            if not shown:
                raise ValueError(f"{name}: the first selection labels no pixel")
            rows = []
            for image_id in shown:
                n = ds.ids.index(image_id)
                img = ds.image(n)
                h, w = img.shape[:2]
                views = [mask_of(image_id) for mask_of in sources.values()]
                rows.append([img, colourize(ds.label(n), ds.label_space)] +
                            [overlay_mask(img, np.ones((h, w), bool) if m is True else
                                          np.zeros((h, w), bool) if m is None else m) for m in views])
        plot_image_grid(rows, shown, ["image", "ground truth"] + list(sources), prefix, title,
                        {"image": ds.kind, "ground truth": ds.kind, **dict(_split_items(items, "masks"))})
    elif kind == "qualitative":
        from ..data.datasets import open_dataset
        from ..evaluate import predict
        models = _split_items(items, "model")
        split = cfg["evaluation"]["split"]
        n_val = len(open_dataset(cfg, cfg["target"], split, with_labels=False))
        indices = list(range(min(int(fcfg.get("images", 4)), n_val)))
        preds, space = {}, None
        for label, ckpt in models:
            preds[label], space = predict(cfg, ckpt, cfg["target"], indices, threads=threads)
        ds = open_dataset(cfg, cfg["target"], split, space)
        rows = [[ds.image(i), colourize(ds.label(i), space)] + [colourize(p[n], space) for p in preds.values()]
                for n, i in enumerate(indices)]
        plot_image_grid(rows, [ds.ids[i] for i in indices], ["image", "ground truth"] + list(preds), prefix, title,
                        {"image": f"{ds.kind} {ds.split}", "ground truth": f"{ds.kind} {ds.split}", **dict(models)})
    elif kind == "class_frequency":
        ds = _target_train(cfg)
        names = class_names(ds.label_space)
        pos = {i: n for n, i in enumerate(ds.ids)}
        with contextlib.ExitStack() as stack:
            sources = {"all target training pixels": lambda image_id: True}
            sources.update({label: _mask_source(path, stack) for label, path in
                            _split_items(items, "masks") + _split_items(items, "selection")})
            fractions = labelled_class_fractions(lambda i: ds.label(pos[i]), ds.ids, sources, len(names))
        rows = [{"series": label, "class": c, "fraction": float(f)}
                for label, frac in fractions.items() for c, f in zip(names, frac)]
        plot_class_frequency(pd.DataFrame(rows), prefix, title)
    elif kind == "training":
        runs: dict[str, list[str]] = {}
        for key, path in items:   # 'label|part': the parts of one run (a chain's rounds) in one panel
            runs.setdefault(key.partition("|")[0], []).append(path)
        plot_training_curves(training_curves(runs), prefix, title, spec.xlabel)
    else:
        raise ValueError(f"figure '{name}' has unknown kind '{kind}'")
