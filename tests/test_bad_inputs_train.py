"""Bad inputs of the training stages and checkpoints: each is a one-line adaseg error naming the
file (missing, empty, truncated, foreign or meta-less checkpoints; target anchors of the wrong
shape or without 'anchors'); byte-identical checkpoints; resume files that belong to another run
(other lr, fewer iterations, another architecture, another selection) are moved aside and the run
starts over, while a matching one resumes."""
import copy
import logging
import os
import types
import zipfile

import numpy as np
import pytest
import torch

from adaseg.config import validate_config
from adaseg.errors import CheckpointError, InputFileError
from adaseg.io import load_torch, save_torch
from adaseg.models import build_model
from adaseg.models.checkpoint import load_discriminator, load_model
from adaseg.train.common import Checkpointer, checkpoint_meta, fingerprint_differences, run_fingerprint
from adaseg.train.finetune import load_anchors, read_anchors
from conftest import tiny_config

TINY_MODEL = {"backbone": "resnet18", "output_stride": 16, "aspp_channels": 8, "decoder_channels": 8,
              "low_level_channels": 8}


def _one_line_naming(err, path) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert str(path) in msg, msg
    assert "weights_only" not in msg, msg
    return msg


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory):
    """A small model checkpoint as the warm-up writes it."""
    path = tmp_path_factory.mktemp("ckpt") / "warmup.pt"
    torch.manual_seed(0)
    cfg = {"model": TINY_MODEL}
    save_torch(path, {"model": build_model(TINY_MODEL, 19).state_dict(), "iteration": 4,
                      "meta": checkpoint_meta(cfg, 19, "cityscapes19", stage="warmup_source_only", source="gta5")})
    return path


# --- checkpoints ----------------------------------------------------------------------------------

def _missing(tmp, real):
    return tmp / "nowhere" / "warmup.pt"


def _empty(tmp, real):
    (tmp / "empty.pt").write_bytes(b"")
    return tmp / "empty.pt"


def _truncated(tmp, real):
    data = real.read_bytes()
    (tmp / "truncated.pt").write_bytes(data[:len(data) // 2])
    return tmp / "truncated.pt"


def _garbage(tmp, real):
    (tmp / "garbage.pt").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return tmp / "garbage.pt"


class Foreign:  # a pickled object of a class: a torch file that weights_only=True refuses
    pass


def _foreign(tmp, real):
    torch.save({"model": Foreign()}, tmp / "foreign.pt")
    return tmp / "foreign.pt"


def _without_meta(tmp, real):
    save_torch(tmp / "no_meta.pt", {"model": load_torch(real)["model"]})
    return tmp / "no_meta.pt"


def _bare_state_dict(tmp, real):
    save_torch(tmp / "state_dict.pt", load_torch(real)["model"])
    return tmp / "state_dict.pt"


def _meta_without_model_cfg(tmp, real):
    ck = load_torch(real)
    del ck["meta"]["model_cfg"]
    save_torch(tmp / "no_model_cfg.pt", ck)
    return tmp / "no_model_cfg.pt"


def _weights_of_another_model(tmp, real):
    ck = load_torch(real)
    ck["meta"]["model_cfg"] = dict(ck["meta"]["model_cfg"], decoder_channels=16)
    save_torch(tmp / "other_weights.pt", ck)
    return tmp / "other_weights.pt"


BAD_CHECKPOINTS = [
    (_missing, "does not exist"), (_empty, "empty"), (_truncated, "truncated"), (_garbage, "not a torch checkpoint"),
    (_foreign, "adaseg did not write it"), (_without_meta, "no 'meta'"), (_bare_state_dict, "no 'meta'"),
    (_meta_without_model_cfg, "lacks model_cfg"), (_weights_of_another_model, "do not fit"),
]


@pytest.mark.parametrize("make,says", BAD_CHECKPOINTS, ids=[m.__name__.strip("_") for m, _ in BAD_CHECKPOINTS])
def test_bad_checkpoint_is_one_line_checkpoint_error(tmp_path, real_checkpoint, make, says):
    path = make(tmp_path, real_checkpoint)
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    msg = _one_line_naming(err, path)
    assert says in msg
    assert "adaseg warmup" in msg or "adaseg finetune" in msg  # which stage writes a checkpoint


def test_no_meta_and_no_model_cfg_say_who_writes_checkpoints(tmp_path, real_checkpoint):
    with pytest.raises(CheckpointError, match="not write it; point to a checkpoint written by adaseg warmup"):
        load_model(_without_meta(tmp_path, real_checkpoint))
    with pytest.raises(CheckpointError, match="rerun the stage that wrote it"):
        load_discriminator(_meta_without_model_cfg(tmp_path, real_checkpoint))


@pytest.mark.parametrize("make", [_missing, _empty, _truncated, _garbage, _foreign])
def test_load_torch_errors_are_checkpoint_errors(tmp_path, real_checkpoint, make):
    path = make(tmp_path, real_checkpoint)
    with pytest.raises(CheckpointError) as err:
        load_torch(path)
    _one_line_naming(err, path)


def test_real_checkpoint_loads(real_checkpoint):
    model, meta = load_model(real_checkpoint)
    assert meta["model_cfg"]["backbone"] == "resnet18" and model.classifier.out_channels == 19


# --- byte-identical checkpoints -------------------------------------------------------------------

def test_save_torch_is_byte_identical_across_paths(tmp_path):
    torch.manual_seed(0)
    obj = {"model": build_model(TINY_MODEL, 19).state_dict(), "iteration": 3,
           "meta": checkpoint_meta({"model": TINY_MODEL}, 19, "cityscapes19", stage="test")}
    a, b = tmp_path / "a.pt", tmp_path / "sub" / "other_name.pt"
    save_torch(a, obj)
    save_torch(b, obj)
    assert a.read_bytes() == b.read_bytes()
    assert {n.split("/")[0] for n in zipfile.ZipFile(a).namelist()} == {"archive"}
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    back = load_torch(b)
    assert all(torch.equal(back["model"][k], v) for k, v in obj["model"].items())


# --- target anchors -------------------------------------------------------------------------------

def _anchor_ctx(tmp_path, ncls=19, channels=8):
    model = types.SimpleNamespace(feature_dim=channels)
    return types.SimpleNamespace(ncls=ncls, model=model, device=torch.device("cpu"), state={},
                                 init=str(tmp_path / "stage1.pt"))


def test_anchors_of_the_wrong_shape(tmp_path):
    path = tmp_path / "anchors.npz"
    np.savez(path, anchors=np.zeros((3, 19 * 16), np.float32))  # a model with 16 decoder channels
    with pytest.raises(InputFileError) as err:
        load_anchors(_anchor_ctx(tmp_path), str(path))
    msg = _one_line_naming(err, path)
    assert "(3, 304)" in msg and "152" in msg and "19 classes x 8 decoder channels" in msg


@pytest.mark.parametrize("write,says", [
    (lambda p: np.savez(p, centers=np.zeros((3, 152), np.float32)), "no array 'anchors' (it holds: centers)"),
    (lambda p: np.savez(p, anchors=np.zeros(152, np.float32)), "shape (152,)"),
    (lambda p: p.write_bytes(b"\x00" * 64), "not a readable .npz"),
    (lambda p: None, "does not exist"),
])
def test_bad_anchors_file(tmp_path, write, says):
    path = tmp_path / "anchors.npz"
    write(path)
    with pytest.raises(InputFileError) as err:
        read_anchors(path, 19, 8)
    assert says in _one_line_naming(err, path)


def test_good_anchors_load(tmp_path):
    path = tmp_path / "anchors.npz"
    np.savez(path, anchors=np.ones((3, 152), np.float32))
    ctx = _anchor_ctx(tmp_path)
    a = load_anchors(ctx, str(path))
    assert a.shape == (3, 152) and ctx.state["anchors"] is a


# --- resume fingerprints: Checkpointer itself ----------------------------------------------------

def _linear_state(seed):
    torch.manual_seed(seed)
    lin = torch.nn.Linear(3, 2)
    return {"model": lin, "optimizer": torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)}


def test_matching_partial_resumes(tmp_path):
    fp = {"config": {"train": "abc"}, "iterations": 8}
    a = Checkpointer(tmp_path / "out.pt", 2, fingerprint=fp)
    state = _linear_state(0)
    a.maybe_save(state, 4, 8)
    other = _linear_state(1)
    assert Checkpointer(tmp_path / "out.pt", 2, fingerprint=copy.deepcopy(fp)).resume(other) == 4
    assert torch.equal(other["model"].weight, state["model"].weight)


def test_stale_partial_is_moved_aside_with_a_warning(tmp_path, caplog):
    out = tmp_path / "out.pt"
    partial = tmp_path / "out.pt.partial.pt"
    old = {"config": {"train": "abc", "seed": "s"}, "iterations": 12, "model_cfg": TINY_MODEL}
    for n, new in enumerate([dict(old, iterations=8), dict(old, model_cfg=dict(TINY_MODEL, backbone="resnet34"))], 1):
        Checkpointer(out, 2, fingerprint=old).maybe_save(_linear_state(0), 6, 12)
        fresh = _linear_state(1)
        w = fresh["model"].weight.clone()
        with caplog.at_level(logging.WARNING, logger="adaseg"):
            assert Checkpointer(out, 2, fingerprint=new).resume(fresh) == 0
        assert torch.equal(fresh["model"].weight, w)        # untouched: the run starts over
        assert not partial.exists() and (tmp_path / f"out.pt.partial.pt.stale-{n}").is_file()
        assert load_torch(tmp_path / f"out.pt.partial.pt.stale-{n}")["iteration"] == 6  # kept, not deleted
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all(str(partial) in w for w in warnings)
    assert "iterations differ" in warnings[0] and "model_cfg.backbone differ" in warnings[1]


def test_partial_without_fingerprint_or_unreadable_starts_over(tmp_path, caplog):
    out = tmp_path / "out.pt"
    partial = tmp_path / "out.pt.partial.pt"
    save_torch(partial, dict(Checkpointer._snapshot(_linear_state(0)), iteration=4))  # an older adaseg's partial
    with caplog.at_level(logging.WARNING, logger="adaseg"):
        assert Checkpointer(out, 2, fingerprint={"iterations": 8}).resume(_linear_state(1)) == 0
        partial.write_bytes(b"garbage")
        assert Checkpointer(out, 2, fingerprint={"iterations": 8}).resume(_linear_state(1)) == 0
    assert (tmp_path / "out.pt.partial.pt.stale-1").is_file() and (tmp_path / "out.pt.partial.pt.stale-2").is_file()
    text = caplog.text
    assert "records no fingerprint" in text and "unreadable" in text


def test_fingerprint_fields(tmp_path):
    cfg = tiny_config(tmp_path)
    init, sel = tmp_path / "init.pt", tmp_path / "selection.json"
    init.write_bytes(b"weights")
    sel.write_text("{}")

    def fp(c):
        return run_fingerprint(c, ("seed", "train", "finetune", "ripu"), ["gta5", "cityscapes"], stage="finetune_ripu",
                               iterations=3, model_cfg=TINY_MODEL, init=init,
                               files={"selection": sel, "masks": None}, objective="ripu", round=(1, 2))

    base = fp(cfg)
    assert set(base) == {"config", "stage", "iterations", "model_cfg", "init", "selection", "masks", "objective",
                         "round"}
    assert set(base["config"]) == {"seed", "train", "finetune", "ripu", "datasets"}
    assert fingerprint_differences(base, fp(copy.deepcopy(cfg))) == []
    cached = copy.deepcopy(cfg)
    cached["datasets"]["gta5"]["cache"] = True                     # same pixels: the same run
    assert fingerprint_differences(base, fp(cached)) == []
    resources = copy.deepcopy(cfg)
    resources["train"].update(mem_mb=64000, workers=4, prefetch=8, checkpoint_every=100)  # no effect on weights
    assert fingerprint_differences(base, fp(resources)) == []
    lr = copy.deepcopy(cfg)
    lr["finetune"]["stage1"]["lr"] = 0.1
    assert fingerprint_differences(base, fp(lr)) == ["config.finetune"]
    init.write_bytes(b"other weights")
    sel.write_text('{"selected": []}')
    assert fingerprint_differences(base, fp(cfg)) == ["init.sha256", "selection.sha256"]


# --- resume fingerprints: real training runs ------------------------------------------------------

class Killed(Exception):
    """Stands for SIGKILL right after a resume file was written."""


def _warmup_cfg(tmp_path, proxy_config, iterations):
    cfg = tiny_config(tmp_path)
    cfg["datasets"] = copy.deepcopy(proxy_config["datasets"])
    cfg["warmup"]["iterations"] = iterations
    cfg["train"]["checkpoint_every"] = 2
    cfg["train"]["workers"] = 0
    return validate_config(cfg)


def _interrupt(monkeypatch, run, at: int) -> None:
    """Run `run` until it has written its partial file at iteration `at`, then stop it there."""
    save = Checkpointer.maybe_save

    def maybe_save(self, state, done, total):
        save(self, state, done, total)
        if done == at:
            raise Killed(done)

    with monkeypatch.context() as m, pytest.raises(Killed):
        m.setattr(Checkpointer, "maybe_save", maybe_save)
        run()


def _stale_restart(tmp_path, monkeypatch, caplog, old, new, at, field):
    """Interrupt a source-only warm-up with config `old` after its partial file at iteration `at`,
    rerun it with config `new`, and check that it started over: the warning, the stale file moved
    aside, the final checkpoint byte-identical to a fresh run of `new`. Returns the checkpoint."""
    from adaseg.train.warmup import train_warmup

    out = tmp_path / "warmup.pt"
    partial = tmp_path / "warmup.pt.partial.pt"
    _interrupt(monkeypatch, lambda: train_warmup(old, "source_only", "gta5", "cityscapes", str(out), threads=1), at)
    assert load_torch(partial)["iteration"] == at and not out.exists()
    with caplog.at_level(logging.INFO, logger="adaseg"):
        train_warmup(new, "source_only", "gta5", "cityscapes", str(out), threads=1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(partial) in warnings[0] and field in warnings[0], warnings
    assert "resumed" not in caplog.text
    stale = tmp_path / "warmup.pt.partial.pt.stale-1"
    assert stale.is_file() and load_torch(stale)["iteration"] == at and not partial.exists()
    ref = tmp_path / "fresh.pt"
    train_warmup(new, "source_only", "gta5", "cityscapes", str(ref), threads=1)
    assert out.read_bytes() == ref.read_bytes()   # the same as a run that never saw the stale file
    return load_torch(out)


@pytest.mark.slow
def test_changed_lr_after_a_kill_starts_over(tmp_path, monkeypatch, caplog, proxy_config):
    old = _warmup_cfg(tmp_path, proxy_config, 4)
    new = copy.deepcopy(old)
    new["warmup"]["lr"] = 0.02
    ck = _stale_restart(tmp_path, monkeypatch, caplog, old, new, 2, "config.warmup")
    assert ck["iteration"] == 4


@pytest.mark.slow
def test_fewer_iterations_after_a_kill_train_from_scratch(tmp_path, monkeypatch, caplog, proxy_config):
    # the partial file is at iteration 4 of 6; the rerun asks for 3: without the fingerprint it
    # would write "3 iterations" holding 4 iterations of another schedule
    old = _warmup_cfg(tmp_path, proxy_config, 6)
    new = copy.deepcopy(old)
    new["warmup"]["iterations"] = 3
    ck = _stale_restart(tmp_path, monkeypatch, caplog, old, new, 4, "iterations")
    assert ck["iteration"] == 3


@pytest.mark.slow
def test_changed_architecture_after_a_kill_starts_over(tmp_path, monkeypatch, caplog, proxy_config):
    old = _warmup_cfg(tmp_path, proxy_config, 3)
    new = copy.deepcopy(old)
    new["model"]["decoder_channels"] = 16
    _stale_restart(tmp_path, monkeypatch, caplog, old, new, 2, "model_cfg.decoder_channels")
    model, meta = load_model(tmp_path / "warmup.pt")
    assert meta["model_cfg"]["decoder_channels"] == 16 and model.feature_dim == 16


@pytest.fixture
def finetune_inputs(tmp_path, proxy_config):
    """A tiny config with the proxy datasets, a random selection of the target, and an init
    checkpoint with a resnet34 backbone (the config says resnet18)."""
    from adaseg.select.run import run_selection

    cfg = _warmup_cfg(tmp_path, proxy_config, 2)
    cfg["finetune"]["stage1"]["iterations"] = 3
    sel = tmp_path / "selection.json"
    run_selection(cfg, strategy="random", target="cityscapes", budget_percent=50, out=sel)
    init = tmp_path / "init.pt"
    torch.manual_seed(0)
    init_model = dict(cfg["model"], backbone="resnet34")
    save_torch(init, {"model": build_model(init_model, 19).state_dict(), "iteration": 2,
                      "meta": checkpoint_meta(cfg, 19, "cityscapes19", model_cfg=init_model,
                                              stage="warmup_source_only", source="gta5")})
    return cfg, init, sel


def _finetune(cfg, init, sel, out):
    from adaseg.train.finetune import finetune

    finetune(cfg, objective="stage1", init=str(init), selection=str(sel), source="gta5", target="cityscapes",
             out=str(out), threads=1)


@pytest.mark.slow
def test_finetune_keeps_the_init_architecture_and_resumes_by_fingerprint(tmp_path, monkeypatch, caplog,
                                                                         finetune_inputs):
    cfg, init, sel = finetune_inputs
    assert cfg["model"]["backbone"] == "resnet18"
    out = tmp_path / "stage1.pt"
    partial = tmp_path / "stage1.pt.partial.pt"
    # a matching partial file resumes
    _interrupt(monkeypatch, lambda: _finetune(cfg, init, sel, out), 2)
    with caplog.at_level(logging.INFO, logger="adaseg"):
        _finetune(cfg, init, sel, out)
    assert f"resumed {partial} at iteration 2" in caplog.text
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    # the fine-tuned checkpoint holds and records the init's resnet34, loadable as such
    model, meta = load_model(out)
    assert meta["model_cfg"]["backbone"] == "resnet34" and meta["stage"] == "finetune_stage1"
    assert meta["num_classes"] == 19 and meta["label_space"] == "cityscapes19"
    assert len(model.backbone.layer1) == 3                          # resnet34: 3 blocks (resnet18: 2)
    assert load_torch(out)["iteration"] == 3

    # another selection after a kill: the stale partial file is moved aside
    out.unlink()
    caplog.clear()
    _interrupt(monkeypatch, lambda: _finetune(cfg, init, sel, out), 2)
    s = sel.read_text()
    sel.write_text(s.replace('"budget_pixels"', '"note": "edited", "budget_pixels"'))
    with caplog.at_level(logging.INFO, logger="adaseg"):
        _finetune(cfg, init, sel, out)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(partial) in warnings[0] and "selection.sha256" in warnings[0], warnings
    assert (tmp_path / "stage1.pt.partial.pt.stale-1").is_file() and out.is_file()
