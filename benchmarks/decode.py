"""PNG decoding cost, PIL against OpenCV, on real-size images (what a DataLoader worker spends per sample).

    python benchmarks/decode.py [--data DIR] [--repeat 5] [--out benchmarks/results/decode_<host>.json]

Without --data it writes GTA5 (1914x1052) and Cityscapes (2048x1024) images with the real-size
generator (adaseg.data.synth.generate_real_size) into a temporary folder. Times reading an RGB
image to a uint8 array, with and without the resize to the training size of configs/paper_gta5.yaml,
and checks both libraries decode the same pixels. adaseg.data.datasets.read_rgb uses the faster.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def pil_read(path: Path, size=None) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if size is not None:
            im = im.resize((size[1], size[0]), Image.BILINEAR)
        return np.asarray(im)


def cv2_read(path: Path, size=None) -> np.ndarray:
    img = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    if size is not None:
        img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return img


def time_reads(fn, paths, size, repeat: int) -> float:
    fn(paths[0], size)
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        for p in paths:
            fn(p, size)
        runs.append((time.perf_counter() - t) / len(paths))
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="folder written by generate_real_size (default: write one)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(a.data or tmp)
        if not a.data:
            from adaseg.data.synth import generate_real_size
            generate_real_size(data, gta5=4, gta5_tall=0, cityscapes_train=4, cityscapes_val=0, synthia=0)
        sets = {"gta5 1914x1052": (sorted((data / "gta5" / "images").glob("*.png")), (720, 1280)),
                "cityscapes 2048x1024": (sorted((data / "cityscapes" / "leftImg8bit").rglob("*.png")), (512, 1024))}
        rows = []
        for name, (paths, size) in sets.items():
            assert np.array_equal(pil_read(paths[0]), cv2_read(paths[0])), "PIL and OpenCV decode different pixels"
            row = {"images": name, "mean_png_mb": round(np.mean([p.stat().st_size for p in paths]) / 2 ** 20, 2)}
            for lib, fn in (("pil", pil_read), ("opencv", cv2_read)):
                row[f"{lib}_decode_s"] = round(time_reads(fn, paths, None, a.repeat), 4)
                row[f"{lib}_decode_resize_s"] = round(time_reads(fn, paths, size, a.repeat), 4)
            rows.append(row)
            print(row, flush=True)
    res = {"rows": rows, "host": platform.node(), "cpu": platform.processor() or platform.machine(),
           "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d"), "threads": 1}
    out = Path(a.out or Path(__file__).parent / "results" / "decode_cpu.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
