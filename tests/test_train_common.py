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
    # the training curve of the resumed run is the uninterrupted run's, row for row
    from adaseg.train.common import curve_path
    ref_curve, out_curve = curve_path(ref).read_text(), curve_path(out).read_text()
    assert ref_curve == out_curve
    header, *rows = ref_curve.splitlines()
    assert header.split(",") == ["iteration", "lr", "lr_disc_optimizer", "ce_src", "adv", "disc"]
    assert len(rows) == 40 and rows[0].startswith("1,0.01,") and rows[-1].startswith("40,")


def test_training_curve_rows_offset_and_resume_state(tmp_path):
    from adaseg.train.common import TrainingCurve, curve_path

    lin = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(lin.parameters(), lr=0.5)
    curve = TrainingCurve(offset=10)  # round 2 of 2 of a 20-iteration schedule
    curve.add(0, {"optimizer": opt}, {"ce_src": 1.5})
    opt.param_groups[0]["lr"] = 0.25
    curve.add(1, {"optimizer": opt}, {"ce_src": 1.25, "ce_act": torch.tensor(2.0)})
    resumed = TrainingCurve(offset=10)
    resumed.load_state_dict(curve.state_dict())
    path = curve_path(tmp_path / "round2of2.pt")
    assert path.name == "round2of2.curve.csv"
    resumed.write(path)
    assert path.read_text() == "iteration,lr,ce_src,ce_act\n11,0.5,1.5,\n12,0.25,1.25,2\n"
