"""adaseg.train.finetune: the schedule a fine-tuning run gets from its selection."""
import copy

import pytest
import torch

from adaseg.config import for_seed, validate_config
from adaseg.io import load_torch, save_torch
from adaseg.models.deeplab import build_model
from adaseg.select.run import run_selection
from adaseg.train.common import checkpoint_meta
from adaseg.train.finetune import finetune

from conftest import tiny_config


@pytest.mark.slow
def test_the_fully_supervised_upper_bound_trains_its_own_iterations(tmp_path, proxy_config):
    """finetune.full_supervision.iterations applies to the strategy that labels every target image
    (registry upper_bound) and to nothing else; without it, full supervision trains its section's."""
    cfg = tiny_config(tmp_path)
    cfg["datasets"] = copy.deepcopy(proxy_config["datasets"])
    cfg["train"]["workers"] = 0
    cfg["finetune"]["stage1"]["iterations"] = 2
    cfg["finetune"]["full_supervision"] = {"iterations": 3}
    cfg = for_seed(validate_config(cfg), None)
    init = tmp_path / "init.pt"
    torch.manual_seed(0)
    save_torch(init, {"model": build_model(cfg["model"], 19).state_dict(), "iteration": 0,
                      "meta": checkpoint_meta(cfg, 19, "cityscapes19", stage="warmup_source_only", source="gta5")})

    def iterations(strategy, budget, run_cfg, tag=""):
        sel = tmp_path / f"{strategy}.json"
        run_selection(run_cfg, strategy=strategy, target="cityscapes", budget_percent=budget, out=sel)
        out = tmp_path / f"{strategy}{tag}.pt"
        finetune(run_cfg, objective="stage1", init=str(init), selection=str(sel), source="gta5",
                 target="cityscapes", out=str(out), threads=1)
        return load_torch(out)["iteration"]

    assert iterations("full", 100, cfg) == 3
    assert iterations("random", 50, cfg) == 2
    without = copy.deepcopy(cfg)
    del without["finetune"]["full_supervision"]
    assert iterations("full", 100, without, "-without") == 2


class _TinyNet(torch.nn.Module):
    """conv -> BatchNorm2d -> 1x1 classifier, with the segmentation model's call signature."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.classifier = torch.nn.Conv2d(4, 2, 1)

    def forward(self, x, with_aux=False):
        f = self.bn(self.conv(x))
        return {"logits": self.classifier(f), "features": f}


def _ctx(model, bn):
    from types import SimpleNamespace

    from adaseg.train.finetune import FinetuneContext

    rt = SimpleNamespace(inputs=lambda x: x, labels=lambda y: y, device=torch.device("cpu"), rank=0, world=1)
    opt = torch.optim.SGD([{"params": list(model.parameters()), "lr": 0.1, "base_lr": 0.1}], lr=0.1)
    return FinetuneContext(cfg={"train": {"aux_weight": 0.0, "poly_power": 0.9}}, rt=rt, model=model, net=model,
                           optimizer=opt, scaler=None, ncls=2, label_space="", source=None, target=None, active=[],
                           selection={}, streams={}, aug={}, bs=2, iters=10, seed=0, bn=bn)


def _batches():
    g = torch.Generator().manual_seed(1)
    xs = torch.randn(2, 3, 5, 5, generator=g)
    xt = 3.0 + 2.0 * torch.randn(2, 3, 5, 5, generator=g)   # another domain: other mean and spread
    y = torch.zeros(2, 5, 5, dtype=torch.long)
    return xs, xt, y


def test_per_domain_batch_norm_normalises_each_part_with_its_own_statistics():
    """finetune.bn per_domain (MADA's separate forward passes, munanning/MADA
    models/adaptation_model.py:160-180): in a training forward the source rows come out exactly as
    the model run on the source batch alone, and differ from the joint forward of source + target;
    the running statistics see one update per part."""
    xs, xt, y = _batches()
    alone = _TinyNet().train()
    ref = alone(xs)["logits"]
    per = _TinyNet().train()
    out, labels = _ctx(per, "per_domain").forward([xs, xt], [y, y])
    assert out["logits"].shape == (4, 2, 5, 5) and labels.shape == (4, 5, 5)
    assert torch.allclose(out["logits"][:2], ref, atol=1e-6)
    assert torch.allclose(out["logits"][2:], _TinyNet().train()(xt)["logits"], atol=1e-6)
    assert int(per.bn.num_batches_tracked) == 2
    joint = _TinyNet().train()
    out_j, _ = _ctx(joint, "joint").forward([xs, xt], [y, y])
    assert not torch.allclose(out_j["logits"][:2], ref, atol=1e-3)
    assert torch.allclose(out_j["logits"], _TinyNet().train()(torch.cat([xs, xt]))["logits"], atol=1e-6)
    assert int(joint.bn.num_batches_tracked) == 1


def test_frozen_batch_norm_keeps_its_statistics_and_affine_weights():
    """finetune.bn frozen (BIT-DA/RIPU FrozenBatchNorm2d, tsunghan-wu/D2ADA freeze_bn): batch norm
    normalises with its running statistics, which a training step leaves unchanged, even after
    model.train(); its weight and bias get no gradient; the other layers train."""
    from adaseg.train.finetune import freeze_batchnorm

    xs, xt, y = _batches()
    model = _TinyNet().train()
    freeze_batchnorm(model)
    ctx = _ctx(model, "frozen")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for _ in range(2):
        model.train()                                   # put back to eval by the forward
        out, labels = ctx.forward([xs, xt], [y, y])
        assert not model.bn.training and model.training
        loss = torch.nn.functional.cross_entropy(out["logits"], labels)
        ctx.optimizer.zero_grad()
        loss.backward()
        ctx.optimizer.step()
    after = model.state_dict()
    for k in ("bn.running_mean", "bn.running_var", "bn.num_batches_tracked", "bn.weight", "bn.bias"):
        assert torch.equal(before[k], after[k]), k
    assert model.bn.weight.grad is None and not torch.equal(before["conv.weight"], after["conv.weight"])
    # the forward is the eval-mode batch norm of the concatenated batch
    ref = _TinyNet().eval()
    ref.load_state_dict(after)
    assert torch.allclose(ctx.forward([xs, xt], [y, y])[0]["logits"], ref(torch.cat([xs, xt]))["logits"], atol=1e-6)


def test_bn_mode_schedule_and_round_shares_resolve_per_objective():
    from adaseg.errors import ConfigError
    from adaseg.registry import objective
    from adaseg.train.finetune import bn_mode, round_share_rule, schedule_mode

    cfg = {"finetune": {"bn": "objective"},
           "multi_round": {"rounds": 5, "schedule": "objective", "round_shares": "objective"}}
    assert [bn_mode(cfg, objective(o)) for o in ("stage1", "stage2", "madav2", "ripu", "mcu", "d2ada")] == [
        "per_domain", "per_domain", "per_domain", "frozen", "joint", "frozen"]
    assert [round_share_rule(cfg, objective(o)) for o in ("stage1", "ripu", "mcu", "d2ada")] == [
        "equal", "ripu", "equal", "equal"]
    assert [schedule_mode(cfg, objective(o)) for o in ("stage1", "ripu", "d2ada")] == ["split", "split", "restart"]
    forced = {"finetune": {"bn": "joint"}, "multi_round": {"schedule": "restart", "round_shares": "equal"}}
    assert bn_mode(forced, objective("ripu")) == "joint" and round_share_rule(forced, objective("ripu")) == "equal"
    assert schedule_mode(forced, objective("mcu")) == "restart"
    split = {"multi_round": {"schedule": "split"}}                       # the config's value wins (fid_schedule_split)
    assert schedule_mode(split, objective("d2ada")) == "split" and schedule_mode(split, objective("ripu")) == "split"
    assert bn_mode({"finetune": {}}, objective("mcu")) == "joint" and schedule_mode({}, objective("stage1")) == "split"
    with pytest.raises(ConfigError, match="finetune.bn"):
        bn_mode({"finetune": {"bn": "sync"}}, objective("stage1"))


def test_restart_starts_every_round_at_the_full_learning_rate():
    """Round 2 of 2 of 100 iterations, first iteration: split continues one poly schedule
    (lr = 0.1 (1 - 50/100)^0.9 = 0.0536), restart (D2ADA: a fresh schedule every round,
    tsunghan-wu/D2ADA train_ADA.py:40-42) starts again at lr 0.1 and trains all 100 iterations."""
    from adaseg.train.finetune import round_schedule

    assert round_schedule(100, 2, 2, "split") == (50, 50, 100, 50)
    assert round_schedule(100, 2, 2, "restart") == (0, 100, 100, 100)
    assert round_schedule(100, 2, 2, "split", "ripu") == (27, 73, 100, 27)
    assert round_schedule(100, 1, 1, "restart") == round_schedule(100, 1, 1, "split") == (0, 100, 100, 0)
    lrs = {}
    for schedule in ("split", "restart"):
        offset, iters, total, _ = round_schedule(100, 2, 2, schedule)
        ctx = _ctx(_TinyNet(), "joint")
        ctx.schedule_offset, ctx.schedule_total, ctx.iters = offset, total, iters
        ctx.poly(0)
        lrs[schedule] = ctx.optimizer.param_groups[0]["lr"]
    assert lrs["split"] == pytest.approx(0.1 * 0.5 ** 0.9) and lrs["split"] == pytest.approx(0.05359, abs=1e-5)
    assert lrs["restart"] == pytest.approx(0.1)


@pytest.mark.slow
def test_d2ada_objective_restarts_with_frozen_batch_norm_and_switches_enter_the_fingerprint(
        tmp_path, proxy_config, monkeypatch):
    """objective d2ada end to end: round 2 of 2 trains the section's full iterations from the full
    learning rate (stage1 round 2 of 2: half of them, continuing the poly), batch norm statistics
    stay the init's; the resume fingerprint follows finetune.bn, multi_round.schedule and
    multi_round.round_shares."""
    import adaseg.train.finetune as ft
    from adaseg.train.common import curve_path

    cfg = tiny_config(tmp_path)
    cfg["datasets"] = copy.deepcopy(proxy_config["datasets"])
    cfg["train"]["workers"] = 0
    cfg["finetune"]["stage1"]["iterations"] = 4
    cfg = for_seed(validate_config(cfg), None)
    init = tmp_path / "init.pt"
    torch.manual_seed(0)
    save_torch(init, {"model": build_model(cfg["model"], 19).state_dict(), "iteration": 0,
                      "meta": checkpoint_meta(cfg, 19, "cityscapes19", stage="warmup_source_only", source="gta5")})
    sel = tmp_path / "random.json"
    run_selection(cfg, strategy="random", target="cityscapes", budget_percent=50, out=sel)
    prints = []

    class Recording(ft.Checkpointer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            prints.append(self.fingerprint)

    monkeypatch.setattr(ft, "Checkpointer", Recording)

    def run(objective, run_cfg, tag):
        out = tmp_path / f"{objective}{tag}.pt"
        finetune(run_cfg, objective=objective, init=str(init), selection=str(sel), source="gta5",
                 target="cityscapes", out=str(out), threads=1, schedule_round=(2, 2))
        return load_torch(out), curve_path(out).read_text().splitlines()

    lr = float(cfg["finetune"]["stage1"]["lr"])
    ck, curve = run("d2ada", cfg, "")
    assert ck["iteration"] == 4 and len(curve) == 5
    assert curve[1].split(",")[:2] == ["5", f"{lr:.6g}"]          # a fresh schedule, after round 1's four
    start = load_torch(init)["model"]
    stats = [k for k in start if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(ck["model"][k], start[k]) for k in stats)
    assert prints[-1]["bn"] == "frozen" and prints[-1]["schedule"] == "restart"
    ck1, curve1 = run("stage1", cfg, "")
    assert ck1["iteration"] == 2 and curve1[1].split(",")[0] == "3"
    assert float(curve1[1].split(",")[1]) == pytest.approx(lr * 0.5 ** 0.9, rel=1e-4)
    assert prints[-1]["bn"] == "per_domain" and prints[-1]["schedule"] == "split"
    assert not all(torch.equal(ck1["model"][k], start[k]) for k in stats)
    base = prints[-1]
    for section, key, value in (("finetune", "bn", "joint"), ("multi_round", "schedule", "restart"),
                                ("multi_round", "round_shares", "ripu")):
        changed = copy.deepcopy(cfg)
        changed[section][key] = value
        run("stage1", changed, f"-{key}")
        assert prints[-1] != base, key
