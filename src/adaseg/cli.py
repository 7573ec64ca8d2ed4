"""`adaseg <command>`: one subcommand per pipeline stage, each with explicit inputs and outputs.

Each subcommand is a small function `_<name>(cfg, args, threads)` that calls the stage with keyword
arguments; the strategy and objective choices come from src/adaseg/registry/.
"""
from __future__ import annotations

import argparse
import logging
import sys

from .config import apply_variant, for_seed, load_config
from .errors import AdasegError, ConfigError
from .registry import FIGURES, OBJECTIVES, TABLES, Scale, strategies_run_by
from .registry.runs import WARMUP_KINDS


def _synth(cfg, a, threads):
    from .data.synth import Style, generate
    if "proxy" not in cfg:
        raise SystemExit("the config has no 'proxy' section to generate from")
    p = cfg["proxy"]
    style = Style(float(p.get("appearance_gap", 1.0)), float(p.get("thin_width", 1.5)))
    info = generate(a.out, cfg["datasets"][a.dataset]["kind"], p["seed"], p["height"], p["width"], p["counts"], style)
    logging.info("wrote %s: %s", a.out, info)


def _cache(cfg, a, threads):
    from .data.cache import write_cache
    from .data.datasets import SegmentationDataset, default_label_space
    d = cfg["datasets"][a.dataset]
    write_cache(SegmentationDataset(d["kind"], d["root"], a.split, default_label_space(d["kind"]), d.get("resize")),
                a.out)


def _warmup(cfg, a, threads):
    from .train.warmup import train_warmup
    train_warmup(cfg, a.kind, a.source, a.target, a.out, threads)


def _features(cfg, a, threads):
    from .features import dump_features
    dump_features(cfg, a.checkpoint, a.dataset, a.split, a.mode, a.out, threads)


def _select(cfg, a, threads):
    from .select.run import run_selection
    sel = run_selection(cfg, strategy=a.strategy, target=a.target, budget_percent=a.budget, out=a.out,
                        source_features=a.source_features, target_features=a.target_features,
                        scores_out=a.scores_out)
    logging.info("%s: %d images, %d of %d budget pixels", a.strategy, len(sel["selected"]),
                 sel["pixels_labelled"], sel["budget_pixels"])


def _select_regions(cfg, a, threads):
    from .select.region_run import run_region_selection
    sel = run_region_selection(cfg, strategy=a.strategy, checkpoint=a.checkpoint, target=a.target,
                               budget_percent=a.budget, out=a.out, masks_out=a.masks_out,
                               previous_masks=a.previous_masks, threads=threads, schedule_round=(a.round, a.rounds))
    logging.info("%s: %d new pixels of a %d pixel budget in %d images", a.strategy, sel["pixels_labelled"],
                 sel["budget_pixels"], len(sel["selected"]))


def _superpixels(cfg, a, threads):
    from .data.superpixels import compute_superpixels
    compute_superpixels(cfg, a.dataset, a.split, a.out)


def _region_features(cfg, a, threads):
    from .features import dump_region_features
    dump_region_features(cfg, a.checkpoint, a.dataset, a.superpixels, a.out, threads)


def _select_superpixels(cfg, a, threads):
    from .select.d2ada import run_d2ada
    sel = run_d2ada(cfg, strategy=a.strategy, source_regions=a.source_regions, target_regions=a.target_regions,
                    superpixels=a.superpixels, round_k=a.round, budget_percent=a.budget, out=a.out,
                    masks_out=a.masks_out, gmm_out=a.gmm_out, previous_masks=a.previous_masks, source=a.source)
    logging.info("%s round %d: %d regions, %d of %d budget pixels (%d density)", a.strategy, a.round, sel["regions"],
                 sel["pixels_labelled"], sel["budget_pixels"], sel["density_budget_pixels"])


def _target_anchors(cfg, a, threads):
    from .select.run import fit_target_anchors
    fit_target_anchors(cfg, a.features, a.out)


def _pseudo_labels(cfg, a, threads):
    from .train.pseudo_labels import dump_pseudo_labels
    dump_pseudo_labels(cfg, checkpoint=a.checkpoint, target=a.target, out=a.out, threads=threads)


def _finetune(cfg, a, threads):
    from .train.finetune import finetune
    finetune(cfg, objective=a.objective, init=a.init, selection=a.selection, source=a.source, target=a.target,
             out=a.out, threads=threads, target_anchors=a.target_anchors, pseudo_labels=a.pseudo_labels,
             schedule_round=(a.round, a.rounds), labels=a.labels, label_masks=a.label_masks)


def _export_tasks(cfg, a, threads):
    from .annotate.round import export_round
    info = export_round(cfg, selection=a.selection, checkpoint=a.checkpoint, target=a.target, out_dir=a.out_dir,
                        run=a.round_name or a.out_dir, previous_masks=a.previous_masks, offline=a.offline, threads=threads)
    logging.info("round '%s': %d images, %d asked-for pixels (%s)", info["title"], len(info["images"]),
                 info["asked_pixels"], info.get("link") or info["mode"])


def _import_labels(cfg, a, threads):
    from .annotate.round import import_round
    import_round(cfg, selection=a.selection, target=a.target, project=a.project, labels_out=a.labels_out,
                 masks_out=a.masks_out, annotations=a.annotations, previous_labels=a.previous_labels,
                 previous_masks=a.previous_masks)


def _evaluate(cfg, a, threads):
    from .evaluate import evaluate
    logging.info("mIoU %.2f", evaluate(cfg, a.checkpoint, a.target, a.out, threads)["miou"])


def _table(cfg, a, threads):
    from .report.tables import write_table
    write_table(a.name, _seeded_flags(a.row, "--row"), a.out_prefix, Scale.from_config(cfg),
                _seeded_flags(a.reference, "--reference"))


def _regime(cfg, a, threads):
    from .report.regime import write_regime
    dumps = {}
    for f in a.warmup_features:
        seed, _, path = f.partition("=")
        dumps[int(seed)] = path
    result = write_regime(_seeded_flags(a.row, "--row"), dumps, a.out_prefix)
    logging.info("regime R1-R5: %s", ", ".join(f"{k} {'pass' if result[k]['passed'] else 'fail'}"
                                               for k in ("R1", "R2", "R3", "R4", "R5")))


def _seeded_flags(flags: list[str], flag: str) -> dict[str, dict[int, str]]:
    """['KEY@SEED=PATH', ...] -> {KEY: {SEED: PATH}}."""
    out: dict[str, dict[int, str]] = {}
    for f in flags:
        head, sep, path = f.partition("=")
        key, at, seed = head.rpartition("@")
        if not (sep and at and seed.isdigit() and key):
            raise ConfigError(f"{flag} {f!r}: expected KEY@SEED=EVAL.json (e.g. random@0=results/gta5/eval/...json)")
        out.setdefault(key, {})[int(seed)] = path
    return out


def _figure(cfg, a, threads):
    from .report.figures import make_figure
    make_figure(cfg, a.name, [tuple(i.split("=", 1)) for i in a.item], a.out_prefix, threads)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="validated pipeline config (YAML or JSON)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: config 'threads')")
    p.add_argument("--variant", action="append", default=[],
                   help="an ablation variant or sweep point merged over the config (repeatable, applied in order)")
    p.add_argument("--seed", type=int, default=None,
                   help="the run's seed (its path level s<seed>; default: the first of config 'seeds')")


def _rounds(p: argparse.ArgumentParser) -> None:
    p.add_argument("--round", type=int, default=1, help="this round of the chain (1-based)")
    p.add_argument("--rounds", type=int, default=1, help="the chain's number of rounds")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="adaseg", description=__doc__.splitlines()[0],
                                 epilog="adaseg --debug <command> ...: show the traceback of a bad-input error")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def command(name, run, help):
        p = sub.add_parser(name, help=help)
        _common(p)
        p.set_defaults(run=run)
        return p

    p = command("synth", _synth, "generate one proxy dataset in its real layout")
    p.add_argument("--dataset", required=True, help="dataset name in the config (gta5, synthia, cityscapes)")
    p.add_argument("--out", required=True)

    p = command("cache", _cache, "decode one dataset split once into the decoded-sample cache (HDF5)")
    p.add_argument("--dataset", required=True, help="dataset name in the config")
    p.add_argument("--split", default="train")
    p.add_argument("--out", required=True)

    p = command("warmup", _warmup, "source-only or AdaptSeg warm-up training")
    p.add_argument("--kind", required=True, choices=WARMUP_KINDS)
    p.add_argument("--source", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--out", required=True)

    p = command("features", _features, "per-image class-mean features to HDF5")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--mode", required=True, choices=["source", "target"])
    p.add_argument("--out", required=True)

    p = command("select", _select, "choose whole target images to label (image-level strategies)")
    p.add_argument("--strategy", required=True, choices=strategies_run_by("image"))
    p.add_argument("--target", required=True)
    p.add_argument("--budget", type=float, required=True, help="percent of target pixels")
    p.add_argument("--source-features")
    p.add_argument("--target-features")
    p.add_argument("--scores-out", help="npz with every image's score (and the anchors, if any)")
    p.add_argument("--out", required=True)

    p = command("select-regions", _select_regions, "regions/pixels picked with the model in the loop, with label masks")
    p.add_argument("--strategy", required=True, choices=strategies_run_by("model"))
    p.add_argument("--checkpoint", required=True, help="the model of the previous round (or the warm-up)")
    p.add_argument("--target", required=True)
    p.add_argument("--budget", type=float, required=True, help="percent of each image's pixels in this round")
    p.add_argument("--previous-masks", help="masks of the previous round: never selected again")
    _rounds(p)
    p.add_argument("--masks-out", required=True)
    p.add_argument("--out", required=True)

    p = command("superpixels", _superpixels, "SLIC superpixels of a dataset split (for superpixel strategies)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--out", required=True)

    p = command("region-features", _region_features, "per-superpixel features, class, entropy and size")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--superpixels", required=True)
    p.add_argument("--out", required=True)

    p = command("select-superpixels", _select_superpixels,
                "one round of superpixel selection (D2ADA: GMM densities, eq. 6/7 budgets, region picks)")
    p.add_argument("--strategy", required=True, choices=strategies_run_by("superpixel"))
    p.add_argument("--source-regions", help="source region features (strategies with a density part)")
    p.add_argument("--target-regions", required=True)
    p.add_argument("--superpixels", required=True, help="the target superpixels")
    p.add_argument("--round", type=int, default=1)
    p.add_argument("--source", help="the source dataset: eq. 7 alpha from d2ada.alpha_by_source (else d2ada.alpha)")
    p.add_argument("--budget", type=float, required=True, help="percent of the target pixels in this round")
    p.add_argument("--previous-masks")
    p.add_argument("--gmm-out", required=True)
    p.add_argument("--masks-out", required=True)
    p.add_argument("--out", required=True)

    p = command("target-anchors", _target_anchors, "k-means target anchors from a feature dump")
    p.add_argument("--features", required=True)
    p.add_argument("--out", required=True)

    p = command("pseudo-labels", _pseudo_labels, "argmax pseudo-labels of the target training images")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--out", required=True)

    p = command("finetune", _finetune, "fine-tuning with one objective (src/adaseg/registry/objectives.py)")
    p.add_argument("--objective", required=True, choices=list(OBJECTIVES))
    _rounds(p)
    p.add_argument("--init", required=True)
    p.add_argument("--selection", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--target-anchors")
    p.add_argument("--pseudo-labels")
    p.add_argument("--labels", help="folder of annotators' label PNGs (adaseg import-labels) read instead of the "
                                    "target's label files (oracle: labelstudio)")
    p.add_argument("--label-masks", help="the labelled pixels that go with --labels (import-labels --masks-out)")
    p.add_argument("--out", required=True)

    p = command("export-tasks", _export_tasks,
                "a selection round as Label Studio tasks (and a project, with LABEL_STUDIO_URL set)")
    p.add_argument("--selection", required=True, help="the round's selection.json")
    p.add_argument("--checkpoint", required=True, help="the model whose prediction pre-annotates (the selecting model)")
    p.add_argument("--target", required=True)
    p.add_argument("--previous-masks", help="masks.h5 of the chain's previous round (already labelled)")
    p.add_argument("--round-name", help="the round's name in the project title and description (default: --out-dir)")
    p.add_argument("--offline", action="store_true", help="write the import files only, even with LABEL_STUDIO_URL set")
    p.add_argument("--out-dir", required=True, help="writes tasks.json, label_config.xml, project.json (cvat.zip)")

    p = command("import-labels", _import_labels,
                "a round's annotations (Label Studio project or JSON export), checked, as label PNGs and masks.h5")
    p.add_argument("--selection", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--project", required=True, help="the project.json export-tasks wrote")
    p.add_argument("--annotations", help="a Label Studio JSON export to read instead of the project")
    p.add_argument("--previous-labels", help="label folder of the chain's previous round")
    p.add_argument("--previous-masks", help="masks.h5 of the chain's previous round")
    p.add_argument("--labels-out", required=True, help="folder of <image id>.png in the dataset's id encoding")
    p.add_argument("--masks-out", required=True, help="the round's labelled pixels (cumulative)")

    p = command("evaluate", _evaluate, "mIoU of a checkpoint on the target validation split")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--out", required=True)

    p = command("table", _table, "a results table (CSV, Markdown, LaTeX, HTML) from evaluation files")
    p.add_argument("--name", required=True, choices=list(TABLES))
    p.add_argument("--row", action="append", default=[], metavar="KEY@SEED=EVAL.json",
                   help="a reproduced row's evaluation file at one seed (repeat per seed)")
    p.add_argument("--reference", action="append", default=[], metavar="KEY@SEED=EVAL.json",
                   help="the random run the row KEY is compared with at SEED (the 'Δ vs random' column)")
    p.add_argument("--out-prefix", required=True, help="writes PREFIX.csv, PREFIX.md, PREFIX.tex, PREFIX.html")

    p = command("regime", _regime, "R1-R5: whether a benchmark is in the papers' regime (JSON and Markdown)")
    p.add_argument("--row", action="append", default=[], metavar="KEY@SEED=EVAL.json",
                   help="an evaluation file of a regime row at one seed (src/adaseg/report/regime.py REGIME_ROWS)")
    p.add_argument("--warmup-features", action="append", default=[], metavar="SEED=TARGET.h5",
                   help="the target feature dump of the AdaptSeg warm-up of SEED (the classes it predicts)")
    p.add_argument("--out-prefix", required=True, help="writes PREFIX.json and PREFIX.md")

    p = command("figure", _figure, "one of the papers' figures (PNG, SVG and the plotted numbers as CSV)")
    p.add_argument("--name", required=True, choices=list(FIGURES))
    p.add_argument("--item", action="append", default=[], metavar="KEY=PATH",
                   help="an input of the figure, in order (keys: src/adaseg/registry/figures.py)")
    p.add_argument("--out-prefix", required=True, help="writes PREFIX.png, PREFIX.svg, PREFIX.csv")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. A bad input (adaseg.errors.AdasegError) is printed as one line naming the
    file or key, with exit code 2; `--debug` (before the subcommand) shows the traceback instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[:1]
    args = build_parser().parse_args(argv[1:] if debug else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        cfg = for_seed(apply_variant(load_config(args.config), args.variant), args.seed)
        args.run(cfg, args, args.threads or cfg.get("threads"))
    except AdasegError as e:
        if debug:
            raise
        print(f"adaseg {args.cmd}: error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
