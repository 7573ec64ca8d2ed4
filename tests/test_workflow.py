"""Workflow hygiene: `snakemake --lint` is clean and `dvc repro --dry` lists the stages."""
import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT, cli_env, workflow_copy

DVC = [sys.executable, "-m", "dvc"]


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
    for stage in ("proxy_data", "proxy_synthia", "warmup_gta5", "warmup_features_gta5", "selections_gta5@0",
                  "selections_gta5@2", "table1_gta", "table1_synthia", "report"):
        assert f"Running stage '{stage}'" in run.stdout
    assert "snakemake --cores all table1_gta" in run.stdout


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
