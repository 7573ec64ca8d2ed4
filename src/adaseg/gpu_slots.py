"""Give a job its own GPUs on a multi-GPU machine: `python -m adaseg.gpu_slots --gpus N -- CMD ...`.

`snakemake --cores all --resources gpu=4` lets at most four GPUs' worth of jobs run at once, but
Snakemake does not say which GPU each job gets. This wrapper takes N free GPUs (an exclusive
`flock` per GPU in a lock folder shared by the jobs), runs CMD with CUDA_VISIBLE_DEVICES set to
them and frees them when CMD ends (also when it is killed: the kernel drops the locks). Where a
scheduler already chose (CUDA_VISIBLE_DEVICES set, as SLURM does), on a machine without GPUs, or
for N = 0, CMD runs unchanged. It imports no torch, so it costs milliseconds.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path


def visible_gpus() -> list[str]:
    """GPU ids of this machine: ADASEG_GPUS ('0,1,2'), else what `nvidia-smi -L` lists, else none."""
    if os.environ.get("ADASEG_GPUS") is not None:
        return [g for g in os.environ["ADASEG_GPUS"].split(",") if g.strip()]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(n) for n, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


def acquire(gpus: list[str], n: int, lock_dir: Path, poll: float = 1.0) -> tuple[list[str], list]:
    """Block until n of `gpus` are free; (their ids, the open lock files that hold them)."""
    if n > len(gpus):
        raise SystemExit(f"the job needs {n} GPUs but this machine has {len(gpus)} ({','.join(gpus) or 'none'})")
    lock_dir.mkdir(parents=True, exist_ok=True)
    while True:
        held, files = [], []
        for g in gpus:
            f = open(lock_dir / f"gpu{g}.lock", "w")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                continue
            held.append(g)
            files.append(f)
            if len(held) == n:
                return held, files
        for f in files:
            f.close()  # not enough free: let the others go and wait
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m adaseg.gpu_slots", description=__doc__.splitlines()[0])
    ap.add_argument("--gpus", type=int, required=True, help="GPUs the command needs")
    ap.add_argument("--lock-dir", default=os.environ.get("ADASEG_GPU_LOCKS", "/tmp/adaseg-gpu-locks"))
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- the command and its arguments")
    a = ap.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no command given after --")
    gpus = visible_gpus()
    if a.gpus == 0 or not gpus or os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        return subprocess.call(cmd)
    held, files = acquire(gpus, a.gpus, Path(a.lock_dir))
    env = dict(os.environ, CUDA_VISIBLE_DEVICES=",".join(held))
    print(f"adaseg.gpu_slots: CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']}", file=sys.stderr, flush=True)
    try:
        return subprocess.call(cmd, env=env)
    finally:
        for f in files:
            f.close()


if __name__ == "__main__":
    raise SystemExit(main())
