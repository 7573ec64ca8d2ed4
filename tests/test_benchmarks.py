"""The README's CPU benchmark command runs as written (in a copy of benchmarks/, so the committed
results stay as measured) and reports both steps for both precisions."""
import json
import shlex
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, cli_env

pytestmark = pytest.mark.slow

THROUGHPUT_CPU = ("python benchmarks/train_throughput.py --backbone resnet18 --width 16 --crop 64 128 --resize 256 448 "
                  "--batch 2 --steps 2 --warmup 1 --workers 1 --images 4 --threads 1")


def test_train_throughput_cpu_command_of_the_readme(tmp_path):
    assert THROUGHPUT_CPU in (ROOT / "README.md").read_text()
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(ROOT / "benchmarks" / "train_throughput.py", tmp_path / "benchmarks")
    shutil.copytree(ROOT / "configs", tmp_path / "configs")  # the step's settings come from paper_gta5.yaml
    argv = shlex.split(THROUGHPUT_CPU)
    run = subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, env=cli_env(), capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    res = json.loads((tmp_path / "benchmarks" / "results" / "train_throughput_cpu.json").read_text())
    assert res["tflop_per_image"] > 0 and res["command"].endswith("--threads 1")
    for precision in ("fp32", "bf16"):
        steps = res["runs"][precision]
        assert steps["model_only"]["images_per_second"] > 0 and steps["whole_step"]["whole_over_model"] > 0


def test_proxy_step_benchmark_writes_a_ratio(tmp_path):
    """benchmarks/proxy_step.py times config.yaml's model and a reference width side by side."""
    out = tmp_path / "step.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "proxy_step.py"), "--steps", "1", "--warmup", "0",
                          "--reference-width", "16", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    res = json.loads(out.read_text())
    assert res["models"]["reference"]["model"]["width"] == 16
    assert res["ratio_reference_over_proxy"] > 0 and res["models"]["proxy"]["gflop_per_step"] > 0
