"""Workflow hygiene: `snakemake --lint` is clean and `dvc repro --dry` lists the stages."""
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
    for stage in ("proxy_data", "table1_gta"):
        assert f"Running stage '{stage}'" in run.stdout
    assert "snakemake --cores all table1_gta" in run.stdout
