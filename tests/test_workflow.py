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


def test_dvc_repro_rebuilds_table_from_clean_copy(tmp_path):
    """`dvc repro` in a copy holding only the tracked workflow files (tiny config) regenerates the
    proxy data and the table, and `dvc metrics show` prints the mIoUs."""
    import shutil

    for name in ("Snakefile", "dvc.yaml", "rules", "src", "envs"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    shutil.copy(ROOT / "tests" / "tiny.yaml", tmp_path / "config.yaml")
    dvc = [sys.executable, "-m", "dvc"]
    env = cli_env()
    subprocess.run(dvc + ["init", "--no-scm", "-q"], cwd=tmp_path, env=env, check=True)
    run = subprocess.run(dvc + ["repro"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (tmp_path / "data" / "proxy" / "gta5" / "images").is_dir()
    assert (tmp_path / "results" / "tables" / "table1_gta.md").is_file()
    shown = subprocess.run(dvc + ["metrics", "show"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert shown.returncode == 0
    for row in ("source_only.mIoU", "adaptseg.mIoU", "mada_full.mIoU", "fully_supervised.mIoU"):
        assert row in shown.stdout
