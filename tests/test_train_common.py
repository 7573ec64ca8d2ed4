"""adaseg.train.common (Checkpointer): a warm-up killed mid-run resumes to the weights of an uninterrupted run."""
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import cli_env, write_config


def _warmup(cfg_path, out, log):
    return subprocess.Popen(
        [sys.executable, "-m", "adaseg", "warmup", "--config", str(cfg_path), "--kind", "adaptseg",
         "--source", "gta5", "--target", "cityscapes", "--out", str(out)],
        env=cli_env(), stdout=subprocess.DEVNULL, stderr=open(log, "w"))


@pytest.mark.slow
def test_killed_warmup_resumes_to_identical_weights(tmp_path, tiny):
    tiny["warmup"]["iterations"] = 40
    tiny["train"]["checkpoint_every"] = 4
    cfg_path = write_config(tmp_path, tiny)
    env = cli_env()
    for name in ("gta5", "cityscapes"):
        subprocess.run([sys.executable, "-m", "adaseg", "synth", "--config", str(cfg_path), "--dataset", name,
                        "--out", tiny["datasets"][name]["root"]], env=env, check=True, capture_output=True)

    ref = tmp_path / "reference.pt"
    assert _warmup(cfg_path, ref, tmp_path / "ref.log").wait(timeout=600) == 0

    out = tmp_path / "killed.pt"
    partial = out.with_name(out.name + ".partial.pt")
    proc = _warmup(cfg_path, out, tmp_path / "killed.log")
    deadline = time.time() + 600
    while not partial.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert partial.exists() and not out.exists()
    killed_at = torch.load(partial, weights_only=True)["iteration"]
    assert 0 < killed_at < 40

    assert _warmup(cfg_path, out, tmp_path / "resumed.log").wait(timeout=600) == 0
    assert f"at iteration {killed_at}" in (tmp_path / "resumed.log").read_text()
    assert out.exists() and not partial.exists()

    a, b = torch.load(ref, weights_only=True), torch.load(out, weights_only=True)
    for part in ("model", "discriminator"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs after resume"
    assert a["iteration"] == b["iteration"] == 40
