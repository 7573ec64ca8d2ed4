"""profiles/slurm against a real SLURM: a single-node SLURM on this machine (tests/cluster/slurm_up.sh,
run by the `slurm` fixture when there is none and the tests run as root with apt; skipped otherwise)
runs two rows of the tiny `table1_gta` DAG (MADA stage 1 + 2: image selection, features, anchors,
pseudo-labels; RIPU RA over two rounds: region scores, masks) through snakemake-executor-plugin-slurm:
every job goes through sbatch (sacct lists each one), and the evaluations equal those of the same
rows run locally (another results folder), confusion matrix for confusion matrix; a training job cancelled with scancel mid-run is resubmitted
(profile `retries`) and resumes from its partial checkpoint. (Two rows, not the whole table: each
SLURM job starts its own Snakemake, seconds apiece.)"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter

import pytest
import torch
import yaml

from conftest import ROOT, cli_env, installed, workflow_copy

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

SLURM_UP = ROOT / "tests" / "cluster" / "slurm_up.sh"
# a test-sized status loop (the profile's defaults suit a real cluster); no account on this SLURM
FAST = ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1",
        "--max-status-checks-per-second", "10", "--slurm-no-account", "--latency-wait", "10"]


def _slurm_answers() -> bool:
    if not shutil.which("sinfo"):
        return False
    run = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    return run.returncode == 0 and any(s.startswith(("idle", "mix", "alloc")) for s in run.stdout.split())


@pytest.fixture(scope="session")
def slurm():
    """A running SLURM: the one there is, or tests/cluster/slurm_up.sh's (root and apt needed)."""
    if not _slurm_answers():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.skip("no SLURM answers here; as root on Debian run tests/cluster/slurm_up.sh")
        installed("slurm", timeout=1800)   # the packages, installed in the background from collection on (conftest)
        run = subprocess.run(["bash", str(SLURM_UP)], capture_output=True, text=True, timeout=1800)
        assert run.returncode == 0, f"tests/cluster/slurm_up.sh failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        print(run.stdout.strip().splitlines()[-1])
    assert _slurm_answers()


@pytest.fixture(scope="module")
def slurm_workspace(tmp_path_factory, slurm):
    """A copy of the workflow with the tiny config and the repository's profiles."""
    work = workflow_copy(tmp_path_factory.mktemp("slurm") / "work")
    shutil.copytree(ROOT / "profiles", work / "profiles")
    yield work
    shutil.rmtree(work.parent, ignore_errors=True)


def _snakemake(work, *args, slurm=True, **kw):
    cmd = [sys.executable, "-m", "snakemake", *args]
    cmd += ["--profile", "profiles/slurm", *FAST] if slurm else ["--cores", "2"]
    return subprocess.Popen(cmd, cwd=work, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kw)


def _sacct(since: str) -> list[dict]:
    """The jobs SLURM accounted since `since`: id, comment (snakemake's rule_<rule>_wildcards_...), state."""
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-S", since, "-o", "JobID,Comment,State"],
                         capture_output=True, text=True, check=True).stdout
    return [dict(zip(("id", "comment", "state"), line.split("|"))) for line in out.splitlines() if line]


def _rule(comment: str) -> str:
    m = re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", comment)
    return m.group(1) if m else ""


def _job_stats(dry_run_output: str) -> Counter:
    """rule -> job count of a dry run's 'Job stats' table."""
    table = dry_run_output.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    return Counter({row.split()[0]: int(row.split()[1]) for row in table if row.split() and row.split()[0] != "total"})


ROWS = ["results/gta5/eval/finetune/s0/mada/10/stage2/round1of1.json",
        "results/gta5/eval/finetune/s0/ripu_ra/10/ripu/round2of2.json"]


def test_rows_run_through_sbatch_and_equal_the_local_run(slurm_workspace):
    work = slurm_workspace
    dry = _snakemake(work, "-n", *ROWS, slurm=False)
    planned = _job_stats(dry.communicate(timeout=300)[0])
    assert planned["finetune"] == 4 and planned["warmup"] == 1, planned   # MADA stage 1 and 2, RIPU RA rounds 1 and 2

    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    proc = _snakemake(work, *ROWS)
    out = proc.communicate(timeout=1800)[0]
    assert proc.returncode == 0, out[-5000:]
    assert "slurm" in out.lower()

    jobs = _sacct(since)
    accounted = Counter(_rule(j["comment"]) for j in jobs)
    assert accounted == planned, (accounted, planned)          # every job was one sbatch submission
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs

    # the same rows run locally into another results folder of the same checkout
    local = [row.replace("results/", "results_local/", 1) for row in ROWS]
    ref = _snakemake(work, *local, "--config", "results=results_local", slurm=False)
    out = ref.communicate(timeout=900)[0]
    assert ref.returncode == 0, out[-3000:]
    for row, there in zip(ROWS, local):
        mine, theirs = (json.loads((work / p).read_text()) for p in (row, there))
        assert mine["confusion"] == theirs["confusion"] and mine["miou"] == theirs["miou"], row


def test_scancelled_training_job_is_resubmitted_and_resumes(slurm_workspace):
    work = slurm_workspace
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    cfg["warmup"]["iterations"] = 120   # long enough to be cancelled after its first partial checkpoint
    cfg["train"]["checkpoint_every"] = 4
    for results in ("results_kill", "results_ref"):
        (work / f"{results}.yaml").write_text(yaml.safe_dump(dict(cfg, results=results)))
    target = "results_kill/gta5/warmup/s0/adaptseg.pt"
    partial = work / f"{target}.partial.pt"

    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    proc = _snakemake(work, target, "--configfile", "results_kill.yaml")
    deadline = time.time() + 900
    while not partial.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert partial.exists(), "the warm-up wrote no partial checkpoint"
    running = [line.split("|") for line in subprocess.run(["squeue", "-h", "-o", "%i|%k"], capture_output=True,
                                                           text=True, check=True).stdout.splitlines()]
    job = [i for i, comment in running if _rule(comment) == "warmup" and "adaptseg" in comment]
    assert len(job) == 1, running
    subprocess.run(["scancel", job[0]], check=True)
    out = proc.communicate(timeout=1200)[0]
    assert proc.returncode == 0, out[-5000:]

    states = [(j["id"], j["state"]) for j in _sacct(since) if _rule(j["comment"]) == "warmup"]
    assert states[0][0] == job[0] and states[0][1].startswith("CANCELLED"), states
    assert len(states) == 2 and states[1][1] == "COMPLETED", states   # resubmitted once, by the profile's retries
    log = (work / "results_kill/logs/gta5/warmup/s0_adaptseg.log").read_text()
    assert re.search(r"resumed \S+ at iteration [1-9]", log), log[-2000:]
    assert not partial.exists()

    # the resumed run ends with the weights of an uninterrupted one
    ref = _snakemake(work, "results_ref/gta5/warmup/s0/adaptseg.pt", "--configfile", "results_ref.yaml", slurm=False)
    assert ref.wait(timeout=900) == 0, ref.stdout.read()[-3000:]
    a = torch.load(work / target, weights_only=True)
    b = torch.load(work / "results_ref/gta5/warmup/s0/adaptseg.pt", weights_only=True)
    for part in ("model", "discriminator"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    assert (work / "results_kill/gta5/warmup/s0/adaptseg.curve.csv").read_text() == \
           (work / "results_ref/gta5/warmup/s0/adaptseg.curve.csv").read_text()
