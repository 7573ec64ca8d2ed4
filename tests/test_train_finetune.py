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
