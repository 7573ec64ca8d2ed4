"""Selection time and peak memory against the number of target images.

    python benchmarks/selection_scaling.py --out benchmarks/out/selection_scaling.csv

Feature dumps in the pipeline's HDF5 format are written for growing pools, up to the real
Cityscapes (2,975 target images) and GTA5 (24,966 source images) sizes, by tiling the rows of a
proxy feature dump (with a little noise) when one is given (--source-h5/--target-h5), else random
rows of the same shape. Each image-level strategy is timed on each size, with the peak of the
memory it allocates (tracemalloc, which numpy reports to); per-pixel RIPU scoring is timed per
image for k = 1 and k = 32 to show that the window statistics do not grow with k. The last column,
seconds per target image, stays flat when the cost grows linearly. Core-set, BADGE and CLUE run
twice: exact (their cost is O(pool x picks), quadratic for a budget that is a fraction of the pool)
and as the blockwise variant (`diversity.block_size`, rows `<strategy>@block<B>`), which is linear.
"""
from __future__ import annotations

import argparse
import csv
import time
import tracemalloc
from pathlib import Path

import h5py
import numpy as np

from adaseg.select.ripu import greedy_picks, ripu_acquisition
from adaseg.select.run import ORDER_BASED, strategy_scores
from adaseg.select.selection_list import images_needed

STRATEGIES = ["entropy", "aada", "mada", "madav2", "prototype", "coreset", "badge", "clue"]


def _rows(src: str | None, n: int, c: int, d: int, rng: np.random.Generator, name: str) -> np.ndarray:
    if src:
        with h5py.File(src, "r") as h5:
            base = h5[name][:]
        reps = int(np.ceil(n / len(base)))
        out = np.concatenate([base] * reps)[:n]
        return (out + rng.normal(0, 0.01, out.shape)).astype(np.float32)
    shape = (n, c, d) if name in ("features", "grad_embedding") else (n, d) if name == "pooled" else (n,)
    return rng.random(shape, dtype=np.float32)


def write_dump(path: Path, n: int, c: int, d: int, template: str | None, seed: int, target: bool) -> list[str]:
    rng = np.random.default_rng(seed)
    ids = [f"img{i:06d}" for i in range(n)]
    with h5py.File(path, "w") as h5:
        h5.create_dataset("ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        names = ["features", "pooled"] + (["entropy", "grad_embedding", "disc_source_prob"] if target else [])
        for name in names:
            h5.create_dataset(name, data=_rows(template, n, c, d, rng, name))
    return ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, nargs="+", default=[744, 1488, 2975])
    ap.add_argument("--source-ratio", type=float, default=24966 / 2975, help="source images per target image")
    ap.add_argument("--classes", type=int, default=19)
    ap.add_argument("--dim", type=int, default=64, help="feature width (256 in the papers)")
    ap.add_argument("--source-h5")
    ap.add_argument("--target-h5")
    ap.add_argument("--budget", type=float, default=5.0)
    ap.add_argument("--strategies", nargs="+", default=STRATEGIES)
    ap.add_argument("--block-size", type=int, default=512,
                    help="diversity.block_size of the linear variant of core-set/BADGE/CLUE (0: skip it)")
    ap.add_argument("--work", default="benchmarks/out/scaling")
    ap.add_argument("--out", default="benchmarks/out/selection_scaling.csv")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    cfg = {"seed": 0, "mada": {"source_anchors": 10, "target_anchors": 10}}
    rows = []
    for n_t in a.targets:
        n_s = int(round(n_t * a.source_ratio))
        src, tgt = work / f"source_{n_s}.h5", work / f"target_{n_t}.h5"
        write_dump(src, n_s, a.classes, a.dim, a.source_h5, 1, False)
        ids = write_dump(tgt, n_t, a.classes, a.dim, a.target_h5, 2, True)
        need = images_needed(np.ones(n_t, dtype=np.int64), a.budget / 100)
        runs = [(s, None) for s in a.strategies]
        if a.block_size:
            runs += [(s, a.block_size) for s in a.strategies if s in ORDER_BASED]
        for s, block in runs:
            tracemalloc.start()
            t = time.perf_counter()
            strategy_scores(s, {**cfg, "diversity": {"block_size": block}}, ids, need, str(src), str(tgt))
            dt = time.perf_counter() - t
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            rows.append(dict(strategy=s if block is None else f"{s}@block{block}", target_images=n_t, source_images=n_s, seconds=round(dt, 3),
                             peak_mib=round(peak / 2 ** 20, 1), seconds_per_target_image=dt / n_t))
            print(rows[-1], flush=True)
    rng = np.random.default_rng(0)
    prob = rng.dirichlet(np.ones(19), size=(512, 1024)).transpose(2, 0, 1).astype(np.float32)
    for k in (1, 32):
        t = time.perf_counter()
        score = ripu_acquisition(prob, k, "RA")
        greedy_picks(score, k, "RA", int(0.022 * 512 * 1024))
        dt = time.perf_counter() - t
        rows.append(dict(strategy=f"ripu_ra_k{k}_per_image_512x1024", target_images=1, source_images=0,
                         seconds=round(dt, 3), peak_mib="", seconds_per_target_image=dt))
        print(rows[-1], flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
