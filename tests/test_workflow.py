"""Workflow hygiene: `snakemake --lint` is clean and `dvc repro --dry` lists the stages."""
import json
import shutil
import subprocess
import sys

from conftest import ROOT, cli_env


def test_snakemake_lint_is_clean():
    run = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, env=cli_env(),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


def test_dvc_repro_dry_lists_stages():
    dvc = [sys.executable, "-m", "dvc"]
    run = subprocess.run(dvc + ["repro", "--dry", "--force"], cwd=ROOT, env=cli_env(),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    for stage in ("proxy_data", "proxy_synthia", "warmup_gta5", "selections_gta5", "table1_gta", "table1_synthia",
                  "report"):
        assert f"Running stage '{stage}'" in run.stdout
    assert "snakemake --cores all table1_gta" in run.stdout


def _workflow_copy(dest):
    """A folder holding only the tracked workflow files, with the tiny config as config.yaml."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "dvc.yaml", "rules", "src", "envs"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    shutil.copy(ROOT / "tests" / "tiny.yaml", dest / "config.yaml")
    return dest


def test_dvc_repro_metrics_plots_and_remote(tmp_path):
    """`dvc repro report` in a clean copy (tiny config) regenerates the proxy data, the headline table
    and the report; `dvc metrics show` prints the mIoUs, `dvc plots show` renders the budget curves;
    `dvc push` to a local-folder remote and `dvc pull` into a second copy restore the warm-up
    checkpoints and selection lists byte for byte, and that copy's pipeline reuses them."""
    import hashlib

    dvc = [sys.executable, "-m", "dvc"]
    env = cli_env()
    work = _workflow_copy(tmp_path / "work")
    subprocess.run(dvc + ["init", "--no-scm", "-q"], cwd=work, env=env, check=True)
    run = subprocess.run(dvc + ["repro", "report"], cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (work / "data" / "proxy" / "gta5" / "images").is_dir()
    assert (work / "results" / "tables" / "table1_gta.md").is_file()
    assert (work / "results" / "report.html").stat().st_size > 0
    shown = subprocess.run(dvc + ["metrics", "show"], cwd=work, env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    for row in ("source_only.mIoU", "adaptseg.mIoU", "mada_full.mIoU", "fully_supervised.mIoU"):
        assert row in shown.stdout
    plots = subprocess.run(dvc + ["plots", "show", "--json"], cwd=work, env=env, capture_output=True, text=True)
    assert plots.returncode == 0, plots.stderr
    rendered = json.loads(plots.stdout)
    assert not rendered.get("errors"), rendered.get("errors")
    assert {"budget_curves", "d2ada_rounds"} <= set(rendered["data"]), list(rendered["data"])
    curve = rendered["data"]["budget_curves"][0]["content"]["data"]["values"]
    assert {v["field"] for v in curve} == {"random", "mada", "madav2"} and {v["x"] for v in curve} == {"10.0", "20.0"}
    html = subprocess.run(dvc + ["plots", "show", "-o", str(tmp_path / "plots")], cwd=work, env=env,
                          capture_output=True, text=True)
    assert html.returncode == 0 and (tmp_path / "plots" / "index.html").stat().st_size > 0, html.stderr
    # share the warm-up checkpoints and selection lists through a local-folder remote
    store = tmp_path / "store"
    subprocess.run(dvc + ["remote", "add", "-d", "shared", str(store)], cwd=work, env=env, check=True)
    push = subprocess.run(dvc + ["push", "warmup_gta5", "selections_gta5", "proxy_data"], cwd=work, env=env,
                          capture_output=True, text=True)
    assert push.returncode == 0, push.stdout + push.stderr
    shared = ["results/gta5/warmup/adaptseg.pt", "results/gta5/warmup/source_only.pt",
              "results/gta5/select/mada/10/selection.json", "results/gta5/select/madav2/10/selection.json"]
    other = _workflow_copy(tmp_path / "other")
    (other / ".dvc").mkdir()
    shutil.copy(work / ".dvc" / "config", other / ".dvc" / "config")
    shutil.copy(work / "dvc.lock", other / "dvc.lock")
    pull = subprocess.run(dvc + ["pull", "warmup_gta5", "selections_gta5", "proxy_data"], cwd=other, env=env,
                          capture_output=True, text=True)
    assert pull.returncode == 0, pull.stdout + pull.stderr

    def digest(path):
        return hashlib.sha256(path.read_bytes()).hexdigest()

    for rel in shared:
        assert digest(other / rel) == digest(work / rel), rel
    status = subprocess.run(dvc + ["status", "warmup_gta5", "selections_gta5"], cwd=other, env=env,
                            capture_output=True, text=True)
    assert status.returncode == 0 and "changed" not in status.stdout, status.stdout
    # after marking the pulled files up to date, the pipeline reuses them
    smk = [sys.executable, "-m", "snakemake", "--cores", "1"]
    touch = subprocess.run(smk + ["--touch", "shared_gta5"], cwd=other, env=env, capture_output=True, text=True)
    assert touch.returncode == 0, touch.stderr[-3000:]
    dry = subprocess.run(smk + ["--dry-run", "table1_gta"], cwd=other, env=env, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "rule finetune_stage1:" in dry.stdout          # the rest of the table is still to be computed
    outputs = [line.split("output:", 1)[1] for line in dry.stdout.splitlines() if line.strip().startswith("output:")]
    reused = shared + ["results/gta5/features/warmup/adaptseg/source.h5",
                       "results/gta5/features/warmup/adaptseg/target.h5"]
    for rel in reused:
        assert not any(rel in out for out in outputs), rel
