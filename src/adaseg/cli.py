"""`adaseg <command>`: one subcommand per pipeline stage, each with explicit inputs and outputs."""
from __future__ import annotations

import argparse
import logging
import sys

from .config import apply_variant, load_config


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="validated pipeline config (YAML or JSON)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: config 'threads')")
    p.add_argument("--variant", action="append", default=[],
                   help="an ablation variant or sweep point merged over the config (repeatable, applied in order)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="adaseg", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("synth", help="generate one proxy dataset in its real layout")
    _common(p)
    p.add_argument("--dataset", required=True, help="dataset name in the config (gta5, synthia, cityscapes)")
    p.add_argument("--out", required=True)

    p = sub.add_parser("cache", help="decode one dataset split once into the decoded-sample cache (HDF5)")
    _common(p)
    p.add_argument("--dataset", required=True, help="dataset name in the config")
    p.add_argument("--split", default="train")
    p.add_argument("--out", required=True)

    p = sub.add_parser("warmup", help="source-only or AdaptSeg warm-up training")
    _common(p)
    p.add_argument("--kind", required=True, choices=["source_only", "adaptseg"])
    p.add_argument("--source", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("features", help="per-image class-mean features to HDF5")
    _common(p)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--mode", required=True, choices=["source", "target"])
    p.add_argument("--out", required=True)

    p = sub.add_parser("select", help="choose target images to label")
    _common(p)
    p.add_argument("--strategy", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--budget", type=float, required=True, help="percent of target pixels")
    p.add_argument("--source-features")
    p.add_argument("--target-features")
    p.add_argument("--scores-out", help="npz with every image's score (and the anchors, if any)")
    p.add_argument("--out", required=True)

    p = sub.add_parser("select-regions", help="RIPU RA/PA or ADA-MCU selection of regions/pixels, with label masks")
    _common(p)
    p.add_argument("--strategy", required=True, choices=["ripu_ra", "ripu_pa", "mcu"])
    p.add_argument("--checkpoint", required=True, help="the model of the previous round (or the warm-up)")
    p.add_argument("--target", required=True)
    p.add_argument("--budget", type=float, required=True, help="percent of each image's pixels per round (RA)")
    p.add_argument("--previous-masks", help="masks of the previous round: never selected again")
    p.add_argument("--round", type=int, default=1, help="with --rounds: RIPU PA takes this round's share of its pixels")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--masks-out", required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("superpixels", help="SLIC superpixels of a dataset split (cached for D2ADA)")
    _common(p)
    p.add_argument("--dataset", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--out", required=True)

    p = sub.add_parser("region-features", help="per-superpixel features, class, entropy and size (D2ADA)")
    _common(p)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--superpixels", required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("select-d2ada", help="one D2ADA round: GMM densities, eq. 6/7 budgets, region picks")
    _common(p)
    p.add_argument("--strategy", default="d2ada", choices=["d2ada", "region_entropy"],
                   help="region_entropy: the superpixel entropy baseline (no density part)")
    p.add_argument("--source-regions", help="source region features (d2ada only)")
    p.add_argument("--target-regions", required=True)
    p.add_argument("--superpixels", required=True, help="the target superpixels")
    p.add_argument("--round", type=int, default=1)
    p.add_argument("--source", help="the source dataset: eq. 7 alpha from d2ada.alpha_by_source (else d2ada.alpha)")
    p.add_argument("--budget", type=float, required=True, help="percent of the target pixels in this round")
    p.add_argument("--previous-masks")
    p.add_argument("--gmm-out", required=True)
    p.add_argument("--masks-out", required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("target-anchors", help="k-means target anchors from a feature dump")
    _common(p)
    p.add_argument("--features", required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("pseudo-labels", help="argmax pseudo-labels of the target training images")
    _common(p)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("finetune", help="fine-tuning with one objective (MADA stage 1/2, MADAv2, RIPU, ADA-MCU)")
    _common(p)
    p.add_argument("--stage", required=True, choices=["stage1", "stage2", "madav2", "ripu", "mcu"],
                   help="the objective (src/adaseg/train/finetune.py OBJECTIVES)")
    p.add_argument("--round", type=int, help="with --rounds: train round ROUND's share of one split schedule")
    p.add_argument("--rounds", type=int)
    p.add_argument("--init", required=True)
    p.add_argument("--selection", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--target-anchors")
    p.add_argument("--pseudo-labels")
    p.add_argument("--out", required=True)

    p = sub.add_parser("evaluate", help="mIoU of a checkpoint on the target validation split")
    _common(p)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--out", required=True)

    p = sub.add_parser("table", help="a results table (CSV, Markdown, LaTeX) from evaluation files")
    _common(p)
    p.add_argument("--name", required=True)
    p.add_argument("--row", action="append", default=[], metavar="KEY=EVAL.json",
                   help="a reproduced row: its key and its evaluation file")
    p.add_argument("--out-prefix", required=True, help="writes PREFIX.csv, PREFIX.md, PREFIX.tex")

    p = sub.add_parser("figure", help="one of the papers' figures (PNG, SVG and the plotted numbers as CSV)")
    _common(p)
    p.add_argument("--name", required=True, help="the figure (src/adaseg/report/figures.py FIGURES)")
    p.add_argument("--item", action="append", default=[], metavar="KEY=PATH",
                   help="an input of the figure, in order (keys: see FIGURES)")
    p.add_argument("--out-prefix", required=True, help="writes PREFIX.png, PREFIX.svg, PREFIX.csv")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    cfg = apply_variant(load_config(args.config), args.variant)
    threads = args.threads or cfg.get("threads")
    if args.cmd == "synth":
        from .data.synth import generate
        d = cfg["datasets"][args.dataset]
        if "proxy" not in cfg:
            raise SystemExit("the config has no 'proxy' section to generate from")
        info = generate(args.out, d["kind"], cfg["proxy"]["seed"], cfg["proxy"]["height"],
                        cfg["proxy"]["width"], cfg["proxy"]["counts"])
        logging.info("wrote %s: %s", args.out, info)
    elif args.cmd == "cache":
        from .data.cache import write_cache
        from .data.datasets import SegmentationDataset, default_label_space
        d = cfg["datasets"][args.dataset]
        write_cache(SegmentationDataset(d["kind"], d["root"], args.split, default_label_space(d["kind"]),
                                        d.get("resize")), args.out)
    elif args.cmd == "warmup":
        from .train.warmup import train_warmup
        train_warmup(cfg, args.kind, args.source, args.target, args.out, threads)
    elif args.cmd == "features":
        from .features import dump_features
        dump_features(cfg, args.checkpoint, args.dataset, args.split, args.mode, args.out, threads)
    elif args.cmd == "select":
        from .select.run import run_selection
        sel = run_selection(cfg, args.strategy, args.target, args.budget, args.out,
                            args.source_features, args.target_features, args.scores_out)
        logging.info("%s: %d images, %d of %d budget pixels", args.strategy, len(sel["selected"]),
                     sel["pixels_labelled"], sel["budget_pixels"])
    elif args.cmd == "select-regions":
        from .select.region_run import run_region_selection
        sel = run_region_selection(cfg, args.strategy, args.checkpoint, args.target, args.budget, args.out,
                                   args.masks_out, args.previous_masks, threads, (args.round, args.rounds))
        logging.info("%s: %d new pixels of a %d pixel budget in %d images", args.strategy,
                     sel["pixels_labelled"], sel["budget_pixels"], len(sel["selected"]))
    elif args.cmd == "superpixels":
        from .data.superpixels import compute_superpixels
        compute_superpixels(cfg, args.dataset, args.split, args.out)
    elif args.cmd == "region-features":
        from .features import dump_region_features
        dump_region_features(cfg, args.checkpoint, args.dataset, args.superpixels, args.out, threads)
    elif args.cmd == "select-d2ada":
        from .select.d2ada import run_d2ada
        sel = run_d2ada(cfg, args.source_regions, args.target_regions, args.superpixels, args.round, args.budget,
                        args.out, args.masks_out, args.gmm_out, args.previous_masks, args.strategy, args.source)
        logging.info(f"{args.strategy} round %d: %d regions, %d of %d budget pixels (%d density)", args.round, sel["regions"],
                     sel["pixels_labelled"], sel["budget_pixels"], sel["density_budget_pixels"])
    elif args.cmd == "target-anchors":
        from .select.run import fit_target_anchors
        fit_target_anchors(cfg, args.features, args.out)
    elif args.cmd == "pseudo-labels":
        from .train.finetune import dump_pseudo_labels
        dump_pseudo_labels(cfg, args.checkpoint, args.target, args.out, threads)
    elif args.cmd == "finetune":
        from .train.finetune import finetune
        finetune(cfg, args.stage, args.init, args.selection, args.source, args.target, args.out, threads,
                 args.target_anchors, args.pseudo_labels,
                 (args.round, args.rounds) if args.rounds else None)
    elif args.cmd == "evaluate":
        from .evaluate import evaluate
        res = evaluate(cfg, args.checkpoint, args.target, args.out, threads)
        logging.info("mIoU %.2f", res["miou"])
    elif args.cmd == "table":
        from .report.tables import write_table
        rows = dict(r.split("=", 1) for r in args.row)
        write_table(args.name, rows, args.out_prefix, float(cfg["mada"]["budget"]),
                    int(cfg.get("multi_round", {}).get("rounds", 5)))
    elif args.cmd == "figure":
        from .report.figures import make_figure
        make_figure(cfg, args.name, [tuple(i.split("=", 1)) for i in args.item], args.out_prefix, threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
