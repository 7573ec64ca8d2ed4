"""DVC beyond the proxy: pipelines/paper_gta5/dvc.yaml on datasets in the real layouts that live
outside the repository, brought in with `dvc import-url` or read in place as external dependencies
(their hashes in dvc.lock; a changed label file makes the warm-up outdated), and
`dvc exp run -S config.yaml:...` on the default pipeline."""
import json
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
    (work / "data" / "real").mkdir(parents=True)
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
    assert _run(DVC + ["status", stage, "--json"], work).strip() == "{}"

    # a new version of the data (one label file changed) makes the warm-up outdated
    labels = sorted((outside / "GTA5" / "labels").iterdir())
    shutil.copy(labels[1], labels[0])
    _run(DVC + ["update", "data/real/GTA5.dvc"], work)
    status = json.loads(_run(DVC + ["status", stage, "--json"], work))
    assert any("data/real/GTA5" in json.dumps(v) for v in status.values()), status

    # the other route: the roots where the data is, outside the repository (external dependencies)
    paper["datasets"]["gta5"]["root"] = str(outside / "GTA5")
    paper["datasets"]["cityscapes"]["root"] = str(outside / "cityscapes")
    (work / "configs" / "paper_gta5.yaml").write_text(yaml.safe_dump(paper, sort_keys=False))
    _run(DVC + ["repro", stage], work)
    lock = yaml.safe_load((work / "pipelines/paper_gta5/dvc.lock").read_text())["stages"]["warmup_gta5"]
    assert str(outside / "GTA5") in {d["path"] for d in lock["deps"]}
    assert _run(DVC + ["status", stage, "--json"], work).strip() == "{}"
    shutil.copy(labels[2], labels[0])
    status = json.loads(_run(DVC + ["status", stage, "--json"], work))
    assert str(outside / "GTA5") in json.dumps(status), status


def test_exp_run_sets_a_config_parameter(repo):
    _, work = repo
    _run(["git", "add", "-A"], work)
    _run(["git", "commit", "-q", "-m", "workflow"], work)
    _run(DVC + ["exp", "run", "proxy_synthia", "-S", "config.yaml:proxy.seed=1", "--name", "seed1"], work)
    shown = json.loads(_run(DVC + ["exp", "show", "--json"], work))

    def named(node, name):
        if isinstance(node, dict):
            if node.get("name") == name and "data" in node:
                yield node
            for v in node.values():
                yield from named(v, name)
        elif isinstance(node, list):
            for v in node:
                yield from named(v, name)

    exp = next(named(shown, "seed1"), None)
    assert exp is not None, json.dumps(shown)[:3000]
    assert exp["data"]["params"]["config.yaml"]["data"]["proxy"]["seed"] == 1
    assert yaml.safe_load((work / "config.yaml").read_text())["proxy"]["seed"] == 1   # the workspace holds the experiment
