"""DVC beyond the proxy: pipelines/paper_gta5/dvc.yaml on datasets in the real layouts that live
outside the repository, brought in with `dvc import-url` (their hashes in dvc.lock, a changed label
file makes the warm-up outdated), and `dvc exp run -S config.yaml:...` on the default pipeline."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, cli_env, workflow_copy

pytestmark = pytest.mark.slow
DVC = [sys.executable, "-m", "dvc"]


def _env():
    env = cli_env()
    env.update(GIT_AUTHOR_NAME="adaseg tests", GIT_AUTHOR_EMAIL="tests@adaseg.invalid",
               GIT_COMMITTER_NAME="adaseg tests", GIT_COMMITTER_EMAIL="tests@adaseg.invalid")
    return env


def _run(cmd, cwd, timeout=900):
    run = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"{' '.join(map(str, cmd))}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run.stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A git + DVC repository holding the workflow (tiny config), its profiles and pipelines/."""
    base = tmp_path_factory.mktemp("dvcreal")
    work = workflow_copy(base / "work")
    for name in ("profiles", "pipelines", "configs"):
        shutil.copytree(ROOT / name, work / name)
    (work / ".gitignore").write_text("/results*/\n/data/proxy/\n.snakemake/\n")
    _run(["git", "init", "-q"], work)
    _run(DVC + ["init", "-q"], work)
    yield base, work
    shutil.rmtree(base, ignore_errors=True)


def test_paper_pipeline_on_imported_real_data(repo):
    base, work = repo
    tiny = yaml.safe_load((work / "config.yaml").read_text())
    # the "real" datasets: the proxy generator writes the real GTA5 and Cityscapes layouts, outside the repository
    outside = base / "datasets"
    for name, folder in (("gta5", "GTA5"), ("cityscapes", "cityscapes")):
        _run([sys.executable, "-m", "adaseg", "synth", "--config", "config.yaml", "--dataset", name,
              "--out", str(outside / folder)], work)
        _run(DVC + ["import-url", str(outside / folder), f"data/real/{folder}"], work)
    paper = dict(tiny, results="results_paper", device="cpu",
                 datasets={"gta5": {"kind": "gta5", "root": "data/real/GTA5", "proxy": False},
                           "cityscapes": {"kind": "cityscapes", "root": "data/real/cityscapes", "proxy": False}})
    (work / "configs" / "paper_gta5.yaml").write_text(yaml.safe_dump(paper, sort_keys=False))

    stage = "pipelines/paper_gta5/dvc.yaml:warmup_gta5"
    _run(DVC + ["repro", stage], work)
    assert (work / "results_paper/gta5/warmup/s0/adaptseg.pt").is_file()
    assert (work / "results_paper/gta5/warmup/s0/adaptseg.curve.csv").is_file()
    lock = yaml.safe_load((work / "pipelines/paper_gta5/dvc.lock").read_text())["stages"]["warmup_gta5"]
    imported = yaml.safe_load((work / "data/real/GTA5.dvc").read_text())["outs"][0]["md5"]
    assert {d["path"]: d["md5"] for d in lock["deps"]}["data/real/GTA5"] == imported
    assert lock["params"]["configs/paper_gta5.yaml"]["datasets.gta5"]["root"] == "data/real/GTA5"
    assert "up to date" in _run(DVC + ["status", stage], work).lower() or \
        _run(DVC + ["status", stage, "--json"], work).strip() == "{}"

    # a new version of the data (one label file changed) makes the warm-up outdated
    label = sorted((outside / "GTA5" / "labels").iterdir())[0]
    shutil.copy(sorted((outside / "GTA5" / "labels").iterdir())[1], label)
    _run(DVC + ["update", "data/real/GTA5.dvc"], work)
    status = json.loads(_run(DVC + ["status", stage, "--json"], work))
    assert any("data/real/GTA5" in json.dumps(v) for v in status.values()), status


def test_exp_run_sets_a_config_parameter(repo):
    _, work = repo
    _run(["git", "add", "-A"], work)
    _run(["git", "commit", "-q", "-m", "workflow"], work)
    _run(DVC + ["exp", "run", "proxy_synthia", "-S", "config.yaml:proxy.seed=1", "--name", "seed1"], work)
    shown = json.loads(_run(DVC + ["exp", "show", "--json"], work))
    text = json.dumps(shown)
    assert "seed1" in text and '"proxy.seed": 1' in text.replace("\n", "") or '"seed": 1' in text, text[:3000]
