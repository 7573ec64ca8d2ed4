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


def test_ripu_round_shares_follow_the_official_selection_iterations():
    """round_iterations: RIPU selects at 10k, 12k, 14k, 16k, 18k of 40k (BIT-DA/RIPU
    configs/gtav/deeplabv2_r101_RA.yaml:16-25); what precedes the first pick is the warm-up's, so the
    chain's iterations are spread as (p_{r+1} - p_r) / (1 - p_1) = 0.05 / 0.75 = 2/30 for rounds 1-4
    and 0.55 / 0.75 = 22/30 for round 5. By hand for 3000 iterations: 200, 200, 200, 200, 2200."""
    from fractions import Fraction

    from adaseg.train.common import ripu_picks, round_iterations

    assert ripu_picks(5) == [Fraction(1, 4), Fraction(3, 10), Fraction(7, 20), Fraction(2, 5), Fraction(9, 20)]
    assert [round_iterations(3000, r, 5, "ripu") for r in range(1, 6)] == [
        (0, 200, 3000), (200, 200, 3000), (400, 200, 3000), (600, 200, 3000), (800, 2200, 3000)]
    # R = 2: picks at 0.25 and 0.45; shares 0.2 / 0.75 = 8/30 and 0.55 / 0.75 = 22/30 of 150 = 40 and 110
    assert ripu_picks(2) == [Fraction(1, 4), Fraction(9, 20)]
    assert [round_iterations(150, r, 2, "ripu") for r in (1, 2)] == [(0, 40, 150), (40, 110, 150)]
    # the proxy's 100 iterations: 100 x 8/30 = 26.7 -> 27, then 73
    assert [round_iterations(100, r, 2, "ripu") for r in (1, 2)] == [(0, 27, 100), (27, 73, 100)]
    # R = 1: one pick at 0, the whole schedule
    assert ripu_picks(1) == [0] and round_iterations(100, 1, 1, "ripu") == (0, 100, 100)
    # equal: max(1, total // R) each, as before
    assert [round_iterations(100, r, 3, "equal") for r in (1, 2, 3)] == [(0, 33, 99), (33, 33, 99), (66, 33, 99)]
    # every round trains at least one iteration; the rounds tile the schedule
    parts = [round_iterations(3, r, 5, "ripu") for r in range(1, 6)]
    assert all(n >= 1 for _, n, _ in parts)
    assert all(a[0] + a[1] == b[0] for a, b in zip(parts, parts[1:])) and parts[-1][0] + parts[-1][1] == parts[-1][2]
    with pytest.raises(ValueError, match="round shares"):
        round_iterations(100, 1, 2, "thirds")
    with pytest.raises(ValueError, match="outside"):
        round_iterations(100, 3, 2, "ripu")


def test_a_non_finite_loss_stops_training_without_a_checkpoint(tmp_path):
    """A loss that becomes NaN (a learning rate far too high, frozen batch norm from scratch) stops
    the stage with one line naming the iteration and the fix; no checkpoint and no resume file."""
    import pytest
    import torch

    from adaseg.errors import TrainingDivergedError
    from adaseg.runtime import Runtime
    from adaseg.train.common import Checkpointer, train_loop

    w = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([w], lr=0.5)
    losses = iter([1.0, 2.0, float("nan")])

    def step(it, b):
        return {"ce": next(losses)}

    out = tmp_path / "m.pt"
    with pytest.raises(TrainingDivergedError, match=r"ce became nan at iteration 3 \(learning rates 0.5\).*lr"):
        train_loop(step, 5, ckpt=Checkpointer(out, every=100), state={"optimizer": opt}, desc="warm-up test",
                   streams={}, rt=Runtime(device=torch.device("cpu")))
    assert not out.exists() and not list(tmp_path.glob("*.pt"))


def test_seg_ce_of_rows_without_a_labelled_pixel_is_zero_not_nan():
    """A crop of a region- or pixel-labelled image can hold none of its labels (ADA-MCU's global
    threshold leaves some images almost unlabelled): cross_entropy's mean over no pixel is NaN, which
    stopped a real-size ADA-MCU run at iteration 1. Such rows add 0; labelled rows the plain CE."""
    import torch
    import torch.nn.functional as F

    from adaseg.data.labels import IGNORE
    from adaseg.train.common import seg_ce

    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    y = torch.full((2, 4, 4), IGNORE, dtype=torch.long)
    y[0, 1, 2] = 1
    empty = seg_ce({"logits": logits}, y, part=slice(1, 2))
    assert empty.item() == 0.0
    empty.backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) == 0.0
    one = seg_ce({"logits": logits}, y, part=slice(0, 1))
    assert torch.allclose(one, F.cross_entropy(logits[0:1], y[0:1], ignore_index=IGNORE))
