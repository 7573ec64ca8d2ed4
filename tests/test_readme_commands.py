"""Every Snakemake command the README shows runs as written: each is dry-run (`-n` added right after
`snakemake`, so that no `--configfile` list swallows it) in a copy of the workflow with the shipped
configs and profiles. Left out, with the reason: templates with <placeholders>, fragments naming one
flag, and the "Adding a strategy" command, whose strategy exists only after the README's edit
(tests/test_registry.py runs that one)."""
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, cli_env

README = (ROOT / "README.md").read_text()


def _commands() -> list[str]:
    found = re.findall(r"`(snakemake [^`]*)`", README)
    found += [line.strip() for line in README.splitlines() if line.startswith("    snakemake ")]
    commands = []
    for cmd in found:
        cmd = cmd.split("  #")[0].strip()
        if "<" in cmd or "confident_first" in cmd or not re.search(r"--cores|--profile|--lint", cmd):
            continue
        if cmd not in commands:
            commands.append(cmd)
    return commands


COMMANDS = _commands()


def test_the_readme_shows_the_main_commands():
    assert "snakemake --cores all table1_gta" in COMMANDS
    assert "snakemake --profile profiles/slurm table1_gta --configfile configs/paper_gta5.yaml" in COMMANDS
    assert "snakemake --cores all table1_gta --configfile configs/quick.yaml" in COMMANDS


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A copy of the workflow as a user's checkout has it, plus the README's site.yaml example."""
    dest = tmp_path_factory.mktemp("readme_checkout")
    for name in ("Snakefile", "config.yaml", "dvc.yaml", "rules", "src", "envs", "configs", "profiles"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    site = re.search(r"# site.yaml\n\s+(cluster: .*)\n", README)
    assert site, "README: the site.yaml example"
    (dest / "site.yaml").write_text(site.group(1) + "\n")
    assert yaml.safe_load((dest / "site.yaml").read_text())["cluster"]["partition"]
    return dest


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_a_readme_command_runs_as_written(checkout, command):
    words = shlex.split(command)
    if "profiles/slurm" in words and importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("needs the cluster extra (pip install -e '.[cluster]')")
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", *words[1:]], cwd=checkout, env=cli_env(),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"{command}\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
