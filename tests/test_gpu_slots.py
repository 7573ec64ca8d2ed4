"""adaseg.gpu_slots: jobs that overlap in time get their own GPUs; a scheduler's choice is kept."""
import subprocess
import sys

import pytest

from conftest import cli_env


def _slot_job(tmp_path, n, lock_dir):
    code = ("import os, time; print(os.environ.get('CUDA_VISIBLE_DEVICES'), time.time(), flush=True); "
            "time.sleep(0.6); print(time.time())")
    env = dict(cli_env(), ADASEG_GPUS="0,1")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return subprocess.Popen([sys.executable, "-m", "adaseg.gpu_slots", "--gpus", str(n), "--lock-dir", str(lock_dir),
                             "--", sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_gpu_slots_give_each_job_its_own_gpus(tmp_path):
    jobs = [_slot_job(tmp_path, 1, tmp_path / "locks") for _ in range(3)] + [_slot_job(tmp_path, 2, tmp_path / "locks")]
    runs = []
    for p in jobs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        first, end = out.split("\n")[:2]
        gpus, start = first.split()
        runs.append((set(gpus.split(",")), float(start), float(end)))
    assert sorted(len(g) for g, _, _ in runs) == [1, 1, 1, 2]
    for i, (g1, s1, e1) in enumerate(runs):  # jobs that overlap in time never share a GPU
        for g2, s2, e2 in runs[i + 1:]:
            if s1 < e2 and s2 < e1:
                assert not g1 & g2
    # a scheduler's choice is kept; zero GPUs run the command unchanged
    env = dict(cli_env(), ADASEG_GPUS="0,1", CUDA_VISIBLE_DEVICES="5")
    out = subprocess.run([sys.executable, "-m", "adaseg.gpu_slots", "--gpus", "1", "--lock-dir", str(tmp_path),
                          "--", sys.executable, "-c", "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "5"
    bad = subprocess.run([sys.executable, "-m", "adaseg.gpu_slots", "--gpus", "3", "--lock-dir", str(tmp_path),
                          "--", "true"], env=dict(cli_env(), ADASEG_GPUS="0,1"), capture_output=True, text=True)
    assert bad.returncode != 0 and "needs 3 GPUs but this machine has 2" in bad.stderr
