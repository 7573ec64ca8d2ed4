"""Workflow hygiene: `snakemake --lint` is clean, `dvc repro --dry` lists the stages, the jobs' conda
env lists what the package imports, every job's resources come from the config."""
import ast
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from conftest import ROOT, cli_env, workflow_copy

DVC = [sys.executable, "-m", "dvc"]


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_the_conda_env_lists_the_runtime_pins_of_requirements():
    """envs/adaseg.yaml builds from a copy (no -r/-e): its pip pins are requirements.txt's, less the
    tools that run outside the jobs, and it holds the distribution of every module src/adaseg imports."""
    env = yaml.safe_load((ROOT / "envs/adaseg.yaml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert not [p for p in pip if p.startswith("-")], pip
    env_pins = _pins(pip)
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    assert env_pins == {k: v for k, v in req.items() if k not in ("snakemake", "dvc", "pytest")}

    imported = set()
    for path in (ROOT / "src/adaseg").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    dists = importlib.metadata.packages_distributions()
    third_party = {re.sub(r"[-_.]+", "-", d).lower() for m in imported - sys.stdlib_module_names - {"adaseg"}
                   for d in dists.get(m, [m])}
    assert third_party <= set(env_pins), third_party - set(env_pins)


@pytest.mark.slow
def test_snakemake_lint_is_clean():
    run = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, env=cli_env(),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.slow
def test_dvc_repro_dry_lists_stages():
    dvc = [sys.executable, "-m", "dvc"]
    run = subprocess.run(dvc + ["repro", "--dry", "--force"], cwd=ROOT, env=cli_env(),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    for stage in ("proxy_data", "proxy_synthia", "warmup_gta5@0", "warmup_gta5@2", "warmup_features_gta5@1", "selections_gta5@0",
                  "selections_gta5@2", "table1_gta", "table1_synthia", "report"):
        assert f"Running stage '{stage}'" in run.stdout
    assert "snakemake --cores all table1_gta" in run.stdout


HOSTILE = "res x; touch INJ1 $(touch INJ2) `touch INJ3` 'q' \"d\""


@pytest.mark.slow
def test_dvc_commands_never_run_a_config_value(tmp_path):
    """A results folder holding `;`, `$()`, backticks, quotes and spaces, set in config.yaml for `dvc
    repro` and with `dvc exp run -S`: DVC's commands name Snakemake targets, never paths, so nothing
    of it is executed and the stage writes its outputs under that very folder."""
    work = workflow_copy(tmp_path / "work")
    env = cli_env()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    (work / ".gitignore").write_text("/data/proxy/\n.snakemake/\n/res*/\n")
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    (work / "config.yaml").write_text(yaml.safe_dump(dict(cfg, results=HOSTILE), sort_keys=False))
    for cmd in (["git", "init", "-q"], DVC + ["init", "-q"]):
        subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True)
    run = subprocess.run(DVC + ["repro", "proxy_data"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (work / HOSTILE / "cache" / "cityscapes" / "val.h5").is_file()
    subprocess.run(git + ["add", "-A"], cwd=work, env=env, check=True, capture_output=True)
    subprocess.run(git + ["commit", "-qm", "x"], cwd=work, env=env, check=True, capture_output=True)
    other = "res y; touch INJ4 $(touch INJ5) `touch INJ6`"
    run = subprocess.run(DVC + ["exp", "run", "-S", f"config.yaml:results='{other}'", "proxy_data"], cwd=work,
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (work / other / "cache" / "cityscapes" / "val.h5").is_file()
    assert not sorted(p.name for p in work.rglob("INJ*")), "a config value was run as a command"


@pytest.fixture(scope="module")
def dvc_workspace(tiny_workspace):
    """The session's tiny pipeline, built by `dvc repro report` from a clean copy of the workflow."""
    work, cfg, _ = tiny_workspace
    assert (work / "data" / "proxy" / "gta5" / "images").is_dir()
    assert (work / "results" / "tables" / "table1_gta.md").is_file()
    assert (work / "results" / "report.html").stat().st_size > 0
    return work, cfg


@pytest.mark.slow
def test_dvc_metrics_plots_and_remote(dvc_workspace, tmp_path):
    """`dvc metrics show` prints the mIoUs, `dvc plots show` renders the budget curves; `dvc push` to a
    local-folder remote and `dvc pull` into a second copy restore the warm-up checkpoints and
    selection lists byte for byte, and that copy's pipeline reuses them."""
    import hashlib

    work, _ = dvc_workspace
    dvc, env = DVC, cli_env()
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
    push = subprocess.run(dvc + ["push", "warmup_gta5", "warmup_features_gta5", "selections_gta5", "proxy_data"], cwd=work, env=env,
                          capture_output=True, text=True)
    assert push.returncode == 0, push.stdout + push.stderr
    shared = ["results/gta5/warmup/s0/adaptseg.pt", "results/gta5/warmup/s0/source_only.pt",
              "results/gta5/select/s0/mada/10/stage1/round1of1/selection.json",
              "results/gta5/select/s0/madav2/10/stage1/round1of1/selection.json"]
    other = workflow_copy(tmp_path / "other")
    (other / ".dvc").mkdir()
    shutil.copy(work / ".dvc" / "config", other / ".dvc" / "config")
    shutil.copy(work / "dvc.lock", other / "dvc.lock")
    pull = subprocess.run(dvc + ["pull", "warmup_gta5", "warmup_features_gta5", "selections_gta5", "proxy_data"], cwd=other, env=env,
                          capture_output=True, text=True)
    assert pull.returncode == 0, pull.stdout + pull.stderr

    def digest(path):
        return hashlib.sha256(path.read_bytes()).hexdigest()

    for rel in shared:
        assert digest(other / rel) == digest(work / rel), rel
    status = subprocess.run(dvc + ["status", "warmup_gta5", "warmup_features_gta5", "selections_gta5"], cwd=other, env=env,
                            capture_output=True, text=True)
    assert status.returncode == 0 and "changed" not in status.stdout, status.stdout
    # after marking the pulled files up to date, the pipeline reuses them
    smk = [sys.executable, "-m", "snakemake", "--cores", "1"]
    touch = subprocess.run(smk + ["--touch", "shared_gta5"], cwd=other, env=env, capture_output=True, text=True)
    assert touch.returncode == 0, touch.stderr[-3000:]
    dry = subprocess.run(smk + ["--dry-run", "table1_gta"], cwd=other, env=env, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "rule finetune:" in dry.stdout          # the rest of the table is still to be computed
    outputs = [line.split("output:", 1)[1] for line in dry.stdout.splitlines() if line.strip().startswith("output:")]
    reused = shared + ["results/gta5/features/warmup/s0/adaptseg/source.h5",
                       "results/gta5/features/warmup/s0/adaptseg/target.h5"]
    for rel in reused:
        assert not any(rel in out for out in outputs), rel


def _png(path):
    from PIL import Image
    import numpy as np

    with Image.open(path) as im:
        assert im.format == "PNG"
        arr = np.asarray(im.convert("RGB"))
    assert arr.std() > 10  # not a blank canvas
    return arr.shape[1], arr.shape[0]


@pytest.mark.slow
def test_table_figure_and_report_targets(dvc_workspace):
    """One sweep table, the figures of the report and the HTML report, built on the tiny config: rows and
    columns from this run's files, published values labelled, images of the expected size."""
    work, cfg = dvc_workspace
    run = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "madav2_table5"], cwd=work, env=cli_env(),
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    res = work / "results"
    # table: one row per budget of figures.budgets + the fully supervised 100%
    df = pd.read_csv(res / "tables" / "madav2_table5.csv")
    assert df["row"].tolist() == ["b10", "b20", "b100"]
    assert df["published mIoU"].tolist() == [66.5, 67.3, 71.9]
    assert df["source"].str.endswith(("madav2/10/stage1/round1of1.json", "madav2/20/stage1/round1of1.json",
                                     "full/100/stage1/round1of1.json")).all()
    for _, r in df.iterrows():
        assert pd.read_json(work / r["source"], typ="series")["miou"] == pytest.approx(r["mIoU"])
    assert "Protocol:" in (res / "tables" / "madav2_table5.md").read_text()
    html = (res / "tables" / "table1_gta.html").read_text()
    assert "Reproduced by this pipeline" in html and "labelled as published" in html and "Protocol:" in html
    fig = res / "figures"
    # budget curves: reproduced points from the evaluation files, published ones labelled
    curves = pd.read_csv(fig / "budget_curves.csv")
    rep = curves[curves["values"] == "reproduced (adaseg)"]
    assert set(rep["series"]) == {"random", "mada", "madav2", "fully supervised"}
    assert sorted(rep.loc[rep["series"] == "mada", "x"]) == [10.0, 20.0]
    for _, r in rep.iterrows():
        assert pd.read_json(work / r["source"], typ="series")["miou"] == pytest.approx(r["mIoU"])
    pub = curves[curves["values"] == "published"]
    assert set(pub["series"]) == {"mada", "madav2"} and pub["source"].str.contains("Table 5").all()
    wide = pd.read_csv(fig / "budget_curves.wide.csv")
    assert list(wide.columns) == ["x", "mada", "madav2", "random"] and wide["x"].tolist() == [10.0, 20.0]
    assert _png(fig / "budget_curves.png") == (600, 400)     # 6 x 4 in at 100 dpi
    assert (fig / "budget_curves.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    # t-SNE: both panels hold the 20 target images (2 selected each) and the 3 + 3 anchors
    tsne = pd.read_csv(fig / "madav2_fig4.csv")
    for panel, part in tsne.groupby("panel"):
        counts = part["kind"].value_counts().to_dict()
        assert counts == {"target": 18, "selected": 2, "source anchor": 3, "target anchor": 3}, (panel, counts)
    assert _png(fig / "madav2_fig4.png") == (1000, 500)      # two 5 x 5 in panels
    # class frequency: one distribution per series, each summing to 1
    freq = pd.read_csv(fig / "ripu_fig5.csv")
    assert freq.groupby("series")["fraction"].sum().round(6).eq(1.0).all()
    assert freq["class"].nunique() == 19 and freq["series"].nunique() == 6
    # qualitative: figures.images rows of image, ground truth and one column per model
    qual = pd.read_csv(fig / "mada_fig3.csv")
    assert list(qual.columns) == ["image id", "image", "ground truth", "AdaptSeg", "MADA"] and len(qual) == 2
    # 4 columns of 2.4 in (+ 0.3), 2 rows of 2.4 x 32/64 in (+ 0.6 for the titles)
    assert _png(fig / "mada_fig3.png") == (990, 300)
    assert _png(fig / "ripu_fig5.png") == (855, 360)         # 19 classes x 0.45 in, 3.6 in high
    # rounds curve of D2ADA Fig. 3: x = % of target pixels after each round
    rounds = pd.read_csv(fig / "d2ada_fig3.csv")
    assert sorted(rounds.loc[rounds["values"] == "reproduced (adaseg)", "x"].unique()) == [5.0, 10.0]
    # the report holds every table and figure of config `report`, with captions
    report = (res / "report.html").read_text()
    for name in cfg["report"]["figures"]:
        assert f"{name}.png" in report, name
    assert "table1_gta.html" in report and "Drawn from the files listed" in report


@pytest.mark.slow
def test_config_is_frozen_per_invocation(tmp_path):
    """Each invocation writes its config to its own content-addressed snapshot and its jobs read
    that one ($ADASEG_CONFIG): a second invocation with another config (here a dry run) writes another
    file and leaves the first untouched, and the jobs' commands name no shared config file."""
    work = workflow_copy(tmp_path / "work")
    smk = [sys.executable, "-m", "snakemake", "--cores", "1", "--dry-run", "--printshellcmds", "table1_gta"]
    first = subprocess.run(smk, cwd=work, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    snapshots = sorted((work / "results" / "configs").glob("*.json"))
    assert len(snapshots) == 1
    before = snapshots[0].read_bytes()
    assert json.loads(before)["threads"] == 1
    second = subprocess.run(smk + ["--config", "threads=2"], cwd=work, env=cli_env(), capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    after = sorted((work / "results" / "configs").glob("*.json"))
    assert len(after) == 2 and snapshots[0].read_bytes() == before
    assert {json.loads(p.read_text())["threads"] for p in after} == {1, 2}
    assert '--config "$ADASEG_CONFIG"' in first.stdout and "config.json" not in first.stdout


def _dry_resources(tmp_path, *configfiles) -> tuple[dict[str, set[str]], str]:
    """rule name -> the resources lines of its jobs in a dry run of table1_gta, and the output."""
    run = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
                          str(tmp_path), "--cores", "2", "--dry-run", "--printshellcmds", "table1_gta",
                          "--configfile", *map(str, configfiles)],
                         env=cli_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    by_rule, rule = {}, None
    for line in run.stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif line.strip().startswith("resources:") and rule:
            by_rule.setdefault(rule, set()).add(line.strip())
    return by_rule, run.stdout


@pytest.mark.slow
def test_the_paper_config_asks_a_scheduler_for_gpus_and_the_proxy_does_not(tmp_path):
    """Resources come from the config: with the paper config every rule that trains or runs the
    network asks for its GPUs (train.gpus for training, under torchrun), the GPU model, the partition
    and account and its runtime; the table asks for no GPU; the proxy (device auto on a machine
    without an NVIDIA GPU) asks for none anywhere."""
    overlay = tmp_path / "site.yaml"
    overlay.write_text(yaml.safe_dump({"train": {"gpus": 2}, "cluster": {
        "partition": "gpu", "account": "lab1", "gpu_model": "a100", "runtime": {"train": 2880, "infer": 90, "other": 10}}}))
    paper = tmp_path / "paper"
    paper.mkdir()
    by_rule, out = _dry_resources(paper, ROOT / "configs/paper_gta5.yaml", overlay)
    for rule in ("warmup", "finetune"):
        for res in by_rule[rule]:
            assert "gpu=2" in res and "gpu_model=a100" in res and "runtime=2880" in res, res
            assert "slurm_partition=gpu" in res and "slurm_account=lab1" in res and "cpus_per_task=4" in res, res
    for rule in ("evaluate", "features", "select_regions", "region_features", "pseudo_labels"):
        assert all("gpu=1" in r and "runtime=90" in r for r in by_rule[rule]), by_rule[rule]
    for rule in ("table", "target_anchors", "select_image"):
        assert all("gpu=" not in r and "slurm_partition=gpu" in r for r in by_rule[rule]), by_rule[rule]
    assert "torchrun --standalone --nproc_per_node 2 -m adaseg finetune" in out

    from adaseg.gpu_slots import visible_gpus
    if visible_gpus():
        return   # device auto on a GPU machine asks for its GPUs
    proxy = tmp_path / "proxy"
    proxy.mkdir()
    by_rule, _ = _dry_resources(proxy, ROOT / "config.yaml")
    assert by_rule and not [r for lines in by_rule.values() for r in lines if "gpu=" in r]
