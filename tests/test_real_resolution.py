"""The table1_gta DAG at the real datasets' resolutions: GTA5 1914x1052 with some 1914x1054 images,
Cityscapes 2048x1024, SYNTHIA 1280x760 (16-bit labels), written in the real layouts, run with
configs/paper_gta5.yaml's resizes and crops (a ResNet-18 with narrow heads, batch 1 and 1
iteration per stage and round, for time). Every stage runs; evaluation counts every pixel of the 2048x1024 labels."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
from PIL import Image
import pytest
import yaml

from adaseg.data.datasets import open_dataset
from adaseg.data.synth import REAL_SIZES, generate_real_size
from adaseg.registry.tables import MAIN_TABLE_ROWS
from conftest import ROOT, cli_env

pytestmark = pytest.mark.slow


def paper_config_at_test_scale(tmp: Path) -> dict:
    cfg = yaml.safe_load((ROOT / "configs" / "paper_gta5.yaml").read_text())
    for name, d in cfg["datasets"].items():
        d["root"] = str(tmp / "data" / name)
    cfg.update(device="cpu", threads=1, results=str(tmp / "results"), seeds=[0])
    cfg["model"].update(backbone="resnet18", aspp_channels=16, decoder_channels=16, low_level_channels=8,
                        imagenet_weights=None)
    cfg["warmup"]["iterations"] = 1
    cfg["warmup"]["adaptseg"]["disc_width"] = 8
    cfg["train"]["checkpoint_every"] = 1
    cfg["train"]["batch_size"] = cfg["finetune"]["batch_size"] = 1  # one 896x512 crop per stream and step
    for stage in ("stage1", "stage2", "full_supervision"):
        cfg["finetune"][stage]["iterations"] = 1  # one per stage and per round: the cost is in the shapes
    # the paper's per-objective counts (RIPU 30k, D2ADA 120k) override the stage counts: one each here too
    cfg["finetune"]["objective_iterations"] = {name: 1 for name in cfg["finetune"].get("objective_iterations", {})}
    cfg["features"]["batch_size"] = 2
    cfg["mada"].update(source_anchors=2, target_anchors=2)
    cfg["multi_round"]["rounds"] = 1   # chaining rounds is size-independent (tests/test_pipeline_e2e.py runs 2)
    cfg["mcu"].update(keys_per_image=64, anchors_per_image=16)
    return cfg


@pytest.fixture(scope="module")
def real_size_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real_size")
    generate_real_size(tmp / "data", gta5=4, gta5_tall=2, cityscapes_train=4, cityscapes_val=2, synthia=2)
    cfg = paper_config_at_test_scale(tmp)
    cfg_path = tmp / "paper_small.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    res = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
                          str(tmp), "--configfile", str(cfg_path), "--cores", "2", "table1_gta"],
                         env=cli_env(), capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    yield tmp, cfg
    shutil.rmtree(tmp, ignore_errors=True)


def _file_size(path) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size[1], im.size[0]


def test_the_data_has_the_real_sizes_and_layouts(real_size_run):
    tmp, cfg = real_size_run
    gta = open_dataset(cfg, "gta5")
    assert sorted({_file_size(s.image) for s in gta.samples}) == [REAL_SIZES["gta5"], REAL_SIZES["gta5_tall"]]
    city = open_dataset(cfg, "cityscapes", "val")
    assert {_file_size(s.label) for s in city.samples} == {REAL_SIZES["cityscapes"]}
    assert len({s.image.parent.name for s in open_dataset(cfg, "cityscapes").samples}) >= 2  # cities
    synthia = open_dataset(cfg, "synthia")
    assert _file_size(synthia.samples[0].label) == REAL_SIZES["synthia"]
    assert synthia.label(0).shape == tuple(cfg["datasets"]["synthia"]["resize"])


def test_every_row_is_computed_at_the_label_resolution(real_size_run):
    tmp, cfg = real_size_run
    df = pd.read_csv(tmp / "results" / "tables" / "table1_gta.csv")
    rep = df[df["values"] == "reproduced (adaseg)"]
    assert sorted(rep["row"]) == sorted(r.key for r in MAIN_TABLE_ROWS) and rep["mIoU"].between(0, 100).all()
    for src in rep["source"]:
        ev = json.loads(Path(src).read_text())
        assert ev["pixels"] == 2 * 2048 * 1024  # not the 512x1024 the network reads
    md = (tmp / "results" / "tables" / "table1_gta.md").read_text()
    assert "each label file's own resolution" in md and "4,194,304 labelled pixels" in md


def test_per_job_peak_memory_is_bounded(real_size_run):
    """Peak RSS of every job from its Snakemake benchmark file (printed with -s; see README)."""
    tmp, _ = real_size_run
    peaks = {}
    for tsv in (tmp / "results" / "benchmarks").rglob("*.tsv"):
        peaks[str(tsv.relative_to(tmp / "results" / "benchmarks"))] = float(pd.read_csv(tsv, sep="\t")["max_rss"].max())
    assert len(peaks) > 30
    for name, mb in sorted(peaks.items(), key=lambda kv: -kv[1])[:8]:
        print(f"peak RSS {mb:8.0f} MB  {name}")
    assert max(peaks.values()) < 6000


def test_masks_and_dumps_are_compressed_per_image_chunks(real_size_run):
    """Label masks, pseudo-labels, superpixels and feature dumps are chunked, compressed HDF5; their
    bytes per image are printed (with -s) for the README's disk estimate at the real image counts."""
    import h5py

    tmp, _ = real_size_run
    res = tmp / "results"
    files = {"masks (RIPU RA 5%)": next((res / "gta5" / "select" / "s0" / "ripu_ra").rglob("round1of1/masks.h5")),
             "pseudo-labels": res / "gta5" / "pseudo_labels" / "finetune" / "s0" / "mada" / "5" / "stage1" / "round1of1.h5",
             "superpixels": res / "superpixels" / "cityscapes.h5",
             "class-mean features (source)": res / "gta5" / "features" / "warmup" / "s0" / "adaptseg" / "source.h5",
             "class-mean features (target)": res / "gta5" / "features" / "warmup" / "s0" / "adaptseg" / "target.h5",
             "region features (source)": res / "gta5" / "regions" / "warmup" / "s0" / "adaptseg" / "source.h5",
             "cityscapes train cache": res / "cache" / "cityscapes" / "train.h5"}
    for name, path in files.items():
        with h5py.File(path) as h5:
            n = len(h5["ids"])
            big = max((h5[k] for k in h5 if isinstance(h5[k], h5py.Dataset)), key=lambda d: d.size)
            what = f"{big.name} {big.shape}"
            if "cache" not in name:
                assert big.chunks is not None and big.compression == "gzip", (name, what)
        print(f"{name}: {path.stat().st_size / n / 1e6:.3f} MB per image ({n} images, {what})")
