import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
# DVC repositories the tests create elsewhere would send usage analytics from a background process
# that, with no network, leaves a /tmp/tmp* file per dvc command: off for every test and subprocess
os.environ["DVC_NO_ANALYTICS"] = "1"


# Servers some slow tests need, installed by a script when missing (minutes: pip, apt): the tests
# that use them run last, and the installs start in the background as soon as the tests are
# collected, so that they overlap with the other tests. fixture name -> (script, is it there?)
LABEL_STUDIO_VENV = Path(os.environ.get("ADASEG_LABEL_STUDIO_VENV", ROOT / ".venv-labelstudio"))
SERVER_INSTALLS = {
    "label_studio": (ROOT / "tests" / "annotate" / "label_studio_up.sh",
                     lambda: (LABEL_STUDIO_VENV / "bin" / "label-studio").exists()),
    "slurm": (ROOT / "tests" / "cluster" / "slurm_up.sh",
              lambda: os.geteuid() != 0 or not shutil.which("apt-get") or shutil.which("slurmctld") is not None),
}
INSTALLS = ROOT / ".pytest-installs"   # git-ignored: <name>.log, <name>.lock (the installer's pid), <name>.rc


def _start_install(name: str) -> None:
    """Start server `name`'s install in the background unless another process (another pytest run
    in this checkout) already did: the first to create <name>.lock runs it and writes its exit code to
    <name>.rc."""
    script, _ = SERVER_INSTALLS[name]
    INSTALLS.mkdir(exist_ok=True)
    lock, rc = INSTALLS / f"{name}.lock", INSTALLS / f"{name}.rc"
    if lock.exists() and not rc.exists():
        try:
            os.kill(int(lock.read_text() or 0), 0)
            return                                   # running in another process
        except (ValueError, ProcessLookupError, PermissionError):
            lock.unlink(missing_ok=True)             # left by a killed session
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    rc.unlink(missing_ok=True)
    with open(INSTALLS / f"{name}.log", "w") as out:
        proc = subprocess.Popen(["bash", "-c", 'bash "$0"; echo $? > "$1"', str(script), str(rc)], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ, ADASEG_LABEL_STUDIO_VENV=str(LABEL_STUDIO_VENV)))
    os.write(fd, str(proc.pid).encode())
    os.close(fd)


@pytest.hookimpl(trylast=True)   # after `-m` / `-k` deselected what will not run
def pytest_collection_modifyitems(session, config, items):
    uses = {name: [i for i in items if name in getattr(i, "fixturenames", ())] for name in SERVER_INSTALLS}
    late = list(dict.fromkeys(i for name in SERVER_INSTALLS for i in uses[name]))
    items[:] = [i for i in items if i not in late] + late
    for name, (_, there) in SERVER_INSTALLS.items():
        if uses[name] and not there() and not config.option.collectonly:
            lock, rc = INSTALLS / f"{name}.lock", INSTALLS / f"{name}.rc"
            if lock.exists() and rc.exists():     # a finished install of a session that ended before its test
                lock.unlink()
                rc.unlink()
            _start_install(name)


def installed(name: str, timeout: float) -> None:
    """Wait for the background install of server `name` (started at collection), or start it now
    when none was started; fail with the end of its output when it failed."""
    import time

    script, there = SERVER_INSTALLS[name]
    lock = INSTALLS / f"{name}.lock"
    if not lock.exists() and there():
        return
    _start_install(name)   # nothing when one runs (its pid alive) or has finished; again when its process died
    rc, deadline = INSTALLS / f"{name}.rc", time.monotonic() + timeout
    while not (rc.exists() and rc.read_text().strip()):
        assert time.monotonic() < deadline, f"{script} did not finish in {timeout:.0f} s"
        time.sleep(1)
    code = int(rc.read_text())
    lock.unlink(missing_ok=True)
    assert code == 0, f"{script} failed (exit {code}):\n{(INSTALLS / f'{name}.log').read_text()[-4000:]}"


def tiny_config(tmp_path: Path, **overrides) -> dict:
    """The tiny config with every path under tmp_path."""
    cfg = yaml.safe_load((ROOT / "tests" / "tiny.yaml").read_text())
    cfg["results"] = str(tmp_path / "results")
    cfg["proxy"]["dir"] = str(tmp_path / "proxy")
    for name, d in cfg["datasets"].items():
        d["root"] = str(tmp_path / "proxy" / name)
    for k, v in overrides.items():
        cfg[k] = v
    return cfg


def write_config(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def write_blank_rgb(path: Path, h: int = 4, w: int = 34) -> None:
    """A black RGB PNG of h x w at `path` (folders created)."""
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path)


def write_eval(path: Path, miou: float, miou13: float | None = None) -> str:
    """A hand-made evaluation file (one class, 'road') with the given mIoU (and mIoU*)."""
    import json

    d = {"miou": miou, "classes": ["road"], "iou": {"road": miou}}
    if miou13 is not None:
        d["miou13"] = miou13
    path.write_text(json.dumps(d))
    return str(path)


def cli_env() -> dict:
    """Environment in which `adaseg` and `snakemake` resolve to this interpreter's install."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def tiny(tmp_path):
    return tiny_config(tmp_path)


def workflow_copy(dest: Path) -> Path:
    """A folder holding only the tracked workflow files, with the tiny config as config.yaml (PNGs
    read directly: with the decoded-sample cache the DVC-sharing check fails, an open problem)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "dvc.yaml", "rules", "src", "envs"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    cfg = yaml.safe_load((ROOT / "tests" / "tiny.yaml").read_text())
    (dest / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dest


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory):
    """One whole tiny pipeline for the end-to-end and DVC tests: `dvc repro report` in a clean copy of
    the workflow (tiny config, paths relative to the copy): proxy data, warm-up, selections, every row
    of table1_gta, the report and its figures. Yields (folder, config, config path); tests that run
    more targets or CLI commands run them in this folder."""
    work = workflow_copy(tmp_path_factory.mktemp("tiny") / "work")
    env = cli_env()
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run(dvc + ["init", "--no-scm", "-q"], cwd=work, env=env, check=True)
    run = subprocess.run(dvc + ["repro", "report"], cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    cfg_path = work / "config.yaml"
    yield work, yaml.safe_load(cfg_path.read_text()), cfg_path
    shutil.rmtree(work.parent, ignore_errors=True)  # checkpoints of a whole DAG: free the disk


@pytest.fixture(scope="session")
def proxy_datasets(tmp_path_factory):
    """One small proxy GTA5 and Cityscapes (seed 0, 32x64: 12 GTA5 images, 6 Cityscapes train, 3 val),
    generated once for the tests that read datasets; returns the folder holding gta5/ and cityscapes/.
    Read-only: tests write under their own tmp_path."""
    from adaseg.data.synth import generate

    root = tmp_path_factory.mktemp("proxy_datasets")
    counts = {"gta5": 12, "cityscapes_train": 6, "cityscapes_val": 3}
    generate(root / "gta5", "gta5", 0, 32, 64, counts)
    generate(root / "cityscapes", "cityscapes", 0, 32, 64, counts)
    return root


@pytest.fixture(scope="session")
def proxy_config(proxy_datasets):
    """The `datasets` section of a config that reads the proxy_datasets (copy it before changing it)."""
    return {"datasets": {"gta5": {"kind": "gta5", "root": str(proxy_datasets / "gta5")},
                         "cityscapes": {"kind": "cityscapes", "root": str(proxy_datasets / "cityscapes")}}}


# --- selection runners on the proxy datasets (test_bad_inputs, test_select_region_run) -------------

AREA, N_IMG = 32 * 64, 6


def make_checkpoint(folder) -> str:
    """A small untrained segmentation model checkpoint (19 classes) the region runner can load."""
    import torch

    from adaseg.io import save_torch
    from adaseg.models.deeplab import build_model
    from adaseg.train.common import checkpoint_meta

    model_cfg = {"backbone": "resnet18", "output_stride": 16, "aspp_channels": 8, "decoder_channels": 8,
                 "low_level_channels": 8}
    torch.manual_seed(0)
    path = folder / "model.pt"
    save_torch(path, {"model": build_model(model_cfg, 19).state_dict(),
                      "meta": checkpoint_meta({"model": model_cfg}, 19, "cityscapes19", stage="test")})
    return str(path)


def make_region_cfg(proxy_config) -> dict:
    """A config for the selection runners on the proxy_datasets fixture."""
    return {"seed": 0, "device": "cpu", "datasets": copy.deepcopy(proxy_config["datasets"]),
            "features": {"batch_size": 8}, "train": {"precision": "fp32"},
            "ripu": {"k_ra": 1, "k_pa": 1, "pa_pixels_per_image": 4, "criterion": "both"},
            "mcu": {"gamma": 0.5, "low_quantile": 0.5, "decay": 0.9, "adaptive_sampling": True},
            "mada": {"source_anchors": 3, "target_anchors": 3}}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("select_ckpt"))


@pytest.fixture
def region_cfg(proxy_config):
    return make_region_cfg(proxy_config)


def write_masks(path, ids, fill_fraction: float = 0.0, size=(32, 64)):
    """A masks file of the images `ids` labelling the first `fill_fraction` of each image's rows."""
    from adaseg.io import create_planes, write_ids, write_plane

    with h5py.File(path, "w") as h5:
        write_ids(h5, ids)
        masks = create_planes(h5, "masks", [size] * len(ids), "u1")
        m = np.zeros(size, np.uint8)
        m[:int(round(fill_fraction * size[0]))] = 1
        for i in range(len(ids)):
            write_plane(masks, i, m)
    return str(path)


def proxy_ids(cfg):
    from adaseg.data.datasets import open_dataset
    return open_dataset(cfg, "cityscapes", "train", with_labels=False).ids


def run_region(cfg, checkpoint, tmp_path, strategy="mcu", budget=5.0, previous=None, rounds=(1, 1)):
    from adaseg.select.region_run import run_region_selection
    return run_region_selection(cfg, strategy=strategy, checkpoint=checkpoint, target="cityscapes",
                                budget_percent=budget, out=tmp_path / "selection.json", masks_out=tmp_path / "masks_out.h5",
                                previous_masks=previous, threads=1, schedule_round=rounds)
