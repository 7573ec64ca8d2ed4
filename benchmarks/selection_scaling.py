"""Selection time and peak memory against the number of target images.

    python benchmarks/selection_scaling.py --out benchmarks/out/selection_scaling.csv
    OMP_NUM_THREADS=1 python benchmarks/selection_scaling.py --targets 2975 --feature-dim 256 \
        --strategies mada madav2 --block-size 0 --no-ripu --json benchmarks/out/selection_memory.json

(benchmarks/results/selection_memory_cpu.json holds such runs of the float32 code and of the earlier
float64 one; on a shared 2-core machine, OpenMP threads made sklearn's k-means several times slower.)

Feature dumps in the pipeline's HDF5 format are written for growing pools, up to the real
Cityscapes (2,975 target images) and GTA5 (24,966 source images) sizes, by tiling the rows of a
proxy feature dump (with a little noise) when one is given (--source-h5/--target-h5), else random
rows of the same shape. Each image-level strategy is timed on each size, with the peak of the
memory it allocates (tracemalloc, which numpy reports to) and the peak resident set size of the
process (ru_maxrss, which also counts what tracemalloc does not see: sklearn's and BLAS's own
buffers, the HDF5 reads); each strategy runs in a fresh (spawned) Python process, so the peak RSS is
that strategy's own, with the imports' baseline given beside it. Per-pixel RIPU scoring is timed per
image for k = 1 and k = 32 to show that the window statistics do not grow with k. The last column,
seconds per target image, stays flat when the cost grows linearly. Core-set, BADGE and CLUE run
twice: exact (their cost is O(pool x picks), quadratic for a budget that is a fraction of the pool)
and as the blockwise variant (`diversity.block_size`, rows `<strategy>@block<B>`), which is linear.
"""
from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import os
import platform
import resource
import time
import tracemalloc
from pathlib import Path

import h5py
import numpy as np

from adaseg.select.ripu import greedy_picks, ripu_acquisition
from adaseg.registry import STRATEGIES as REGISTERED, strategies_run_by
from adaseg.select.run import strategy_scores
from adaseg.select.selection_list import images_needed

# every image-level strategy that reads the feature dumps (src/adaseg/registry/strategies.py)
STRATEGIES = [s for s in strategies_run_by("image") if REGISTERED[s].reads]


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


def _rss_mib() -> float:
    """This process's peak resident set size so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mib() -> float:
    """This process's resident set size now (Linux /proc; NaN elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
    except (OSError, StopIteration):
        return float("nan")


def _measure(strategy: str, cfg: dict, ids: list[str], need: int, src: str, tgt: str) -> dict:
    """Run in a spawned process: seconds, tracemalloc peak and ru_maxrss peak of one strategy, with
    the process's peak and current RSS before it (the imports)."""
    import adaseg
    import sklearn

    baseline, start = _rss_mib(), _current_rss_mib()
    tracemalloc.start()
    t = time.perf_counter()
    strategy_scores(strategy, cfg, ids, need, src, tgt)
    dt = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return dict(seconds=dt, peak_mib=peak / 2 ** 20, peak_rss_mib=_rss_mib(), baseline_rss_mib=baseline,
                start_rss_mib=start,
                adaseg=str(Path(adaseg.__file__).parent), numpy=np.__version__, sklearn=sklearn.__version__)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, nargs="+", default=[744, 1488, 2975])
    ap.add_argument("--source-ratio", type=float, default=24966 / 2975, help="source images per target image")
    ap.add_argument("--classes", type=int, default=19)
    ap.add_argument("--dim", "--feature-dim", dest="dim", type=int, default=64,
                    help="feature width (256 in the papers)")
    ap.add_argument("--source-h5")
    ap.add_argument("--target-h5")
    ap.add_argument("--budget", type=float, default=5.0)
    ap.add_argument("--strategies", nargs="+", default=STRATEGIES)
    ap.add_argument("--block-size", type=int, default=512,
                    help="diversity.block_size of the linear variant of core-set/BADGE/CLUE (0: skip it)")
    ap.add_argument("--work", default="benchmarks/out/scaling")
    ap.add_argument("--out", default="benchmarks/out/selection_scaling.csv")
    ap.add_argument("--json", help="also write the rows and the settings to this JSON file")
    ap.add_argument("--no-ripu", action="store_true", help="skip the per-image RIPU timing")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    cfg = {"seed": 0, "mada": {"source_anchors": 10, "target_anchors": 10}}
    rows, versions = [], {}
    for n_t in a.targets:
        n_s = int(round(n_t * a.source_ratio))
        src, tgt = work / f"source_{n_s}.h5", work / f"target_{n_t}.h5"
        write_dump(src, n_s, a.classes, a.dim, a.source_h5, 1, False)
        ids = write_dump(tgt, n_t, a.classes, a.dim, a.target_h5, 2, True)
        need = images_needed(np.ones(n_t, dtype=np.int64), a.budget / 100)
        runs = [(s, None) for s in a.strategies]
        if a.block_size:
            runs += [(s, a.block_size) for s in a.strategies if REGISTERED[s].order_based]
        for s, block in runs:
            with mp.get_context("spawn").Pool(1) as pool:
                m = pool.apply(_measure, (s, {**cfg, "diversity": {"block_size": block}}, ids, need,
                                          str(src), str(tgt)))
            dt = m["seconds"]
            rows.append(dict(strategy=s if block is None else f"{s}@block{block}", target_images=n_t, source_images=n_s,
                             seconds=round(dt, 3), peak_mib=round(m["peak_mib"], 1),
                             peak_rss_mib=round(m["peak_rss_mib"], 1), baseline_rss_mib=round(m["baseline_rss_mib"], 1),
                             start_rss_mib=round(m["start_rss_mib"], 1),
                             seconds_per_target_image=dt / n_t))
            print(rows[-1], flush=True)
            versions = {k: m[k] for k in ("adaseg", "numpy", "sklearn")}
    if not a.no_ripu:
        rng = np.random.default_rng(0)
        prob = rng.dirichlet(np.ones(19), size=(512, 1024)).transpose(2, 0, 1).astype(np.float32)
    for k in () if a.no_ripu else (1, 32):
        t = time.perf_counter()
        score = ripu_acquisition(prob, k, "RA")
        greedy_picks(score, k, "RA", int(0.022 * 512 * 1024))
        dt = time.perf_counter() - t
        rows.append(dict(strategy=f"ripu_ra_k{k}_per_image_512x1024", target_images=1, source_images=0,
                         seconds=round(dt, 3), peak_mib="", peak_rss_mib="", baseline_rss_mib="", start_rss_mib="",
                         seconds_per_target_image=dt))
        print(rows[-1], flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        settings = dict(classes=a.classes, feature_dim=a.dim, budget_percent=a.budget, mada=cfg["mada"],
                        features="proxy rows" if a.source_h5 else "uniform random float32",
                        python=platform.python_version(), cpu_count=mp.cpu_count(),
                        threads={k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS")},
                        **versions)
        Path(a.json).write_text(json.dumps(dict(settings=settings, rows=rows), indent=1) + "\n")


if __name__ == "__main__":
    main()
