"""oracle: labelstudio against a real Label Studio server on localhost.

The `label_studio` fixture installs the server into its own venv when missing
(tests/annotate/label_studio_up.sh; conftest starts it in the background when the test is collected
and runs this module last), starts it with a fresh data folder, logs in and creates a
personal access token, as a user does in the web interface. The test then runs the tiny DAG of two
runs with `oracle: labelstudio` (RIPU region-aware, two rounds; MADA stage 1, whole images): the
pipeline pushes each round's tasks to its project and stops until they are annotated; the test
submits annotations through the API as an annotator would, copying the ground truth on the asked-for
pixels (once leaving pixels out, which the import refuses, naming the task), and the pipeline goes
on. The imported labels equal the ground truth on every asked-for pixel, and the fine-tuned models
equal the ground_truth oracle's (the tiny_workspace run) tensor for tensor, byte for byte.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import LABEL_STUDIO_VENV, cli_env, installed, workflow_copy

pytestmark = pytest.mark.slow

EMAIL, PASSWORD = "annotator@example.com", "adaseg-test-pw"
RUNS = ["gta5/finetune/s0/ripu_ra/10/ripu/round1of2.pt", "gta5/finetune/s0/ripu_ra/10/ripu/round2of2.pt",
        "gta5/finetune/s0/mada/10/stage1/round1of1.pt"]
TARGETS = [f"results/{RUNS[1]}", f"results/{RUNS[2]}"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def personal_access_token(url: str) -> str:
    """Log in with the form, as a browser does, and create a personal access token."""
    import requests

    s = requests.Session()
    s.get(f"{url}/user/login/", timeout=30)
    r = s.post(f"{url}/user/login/", data={"email": EMAIL, "password": PASSWORD,
                                           "csrfmiddlewaretoken": s.cookies.get("csrftoken")},
               headers={"Referer": f"{url}/user/login/"}, timeout=30)
    assert r.ok and not r.url.rstrip("/").endswith("/user/login"), "login to Label Studio failed"
    r = s.post(f"{url}/api/token/", headers={"X-CSRFToken": s.cookies.get("csrftoken"), "Referer": f"{url}/"},
               timeout=30)
    assert r.status_code == 201, r.text[:300]
    return r.json()["token"]


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory):
    """(url, personal access token) of a Label Studio server started for the session."""
    installed("label_studio", timeout=1200)   # tests/annotate/label_studio_up.sh, started at collection (conftest)
    venv = LABEL_STUDIO_VENV
    data = tmp_path_factory.mktemp("label_studio")
    port = _free_port()
    env = dict(os.environ, LABEL_STUDIO_BASE_DATA_DIR=str(data))
    log = open(data / "server.log", "w")
    proc = subprocess.Popen([str(venv / "bin" / "label-studio"), "start", "--no-browser", "--internal-host",
                             "127.0.0.1", "-p", str(port), "--username", EMAIL, "--password", PASSWORD],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=data)
    url = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + 300
    while True:
        try:
            if requests.get(f"{url}/health", timeout=5).ok:
                break
        except requests.RequestException:
            pass
        assert proc.poll() is None, "Label Studio exited:\n" + (data / "server.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "Label Studio did not answer in 300 s"
        time.sleep(1)
    try:
        yield url, personal_access_token(url)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def _snakemake(work, env):
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *TARGETS], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)


def _ground_truth(work, image_id):
    path = next((work / "data" / "proxy" / "cityscapes" / "gtFine" / "train").rglob(f"{image_id}_gtFine_labelIds.png"))
    return np.asarray(Image.open(path))


def _asked(task_json_entry, shape):
    from adaseg.annotate.rle import decode_mask

    for r in task_json_entry["predictions"][0]["result"]:
        if r["from_name"] == "asked":
            return decode_mask(r["value"]["rle"], *shape)
    return np.ones(shape, bool)


def _annotate_open_rounds(work, ls, leave_out: str | None = None) -> list[str]:
    """Submit ground-truth annotations for every task without one (for image `leave_out`: one that
    paints nothing on its first asked-for pixel). Returns the annotated rounds' folders."""
    from adaseg.annotate.classes import CITYSCAPES_LABELIDS
    from adaseg.annotate.imported import submitted
    from adaseg.annotate.tasks import LABEL_CONTROL, brush_result

    names = {c.id: c.name for c in CITYSCAPES_LABELIDS}
    done = []
    for project in sorted((work / "results").rglob("annotation/project.json")):
        info = json.loads(project.read_text())
        assert info["mode"] == "labelstudio"
        exported = {t["data"]["adaseg_id"]: t for t in json.loads(project.with_name("tasks.json").read_text())}
        tasks = ls.tasks(info["project"])
        assert sorted(t["data"]["adaseg_id"] for t in tasks) == sorted(exported)
        full = ls.export(info["project"])
        if all(submitted(t) for t in full):
            continue
        for t in tasks:
            sid = t["data"]["adaseg_id"]
            gt = _ground_truth(work, sid)
            asked = _asked(exported[sid], gt.shape)
            if sid == leave_out:
                asked = asked.copy()
                asked[tuple(np.argwhere(asked)[0])] = False
            result = [brush_result(asked & (gt == c), LABEL_CONTROL, names[int(c)], f"gt{int(c)}")
                      for c in np.unique(gt[asked])]
            ls.annotate(t["id"], result)
        done.append(str(project.parent))
    return done


def test_label_studio_round_trip(tiny_workspace, label_studio, tmp_path):
    from adaseg.annotate.labelstudio import LabelStudio

    url, token = label_studio
    gt_work = tiny_workspace[0]
    work = workflow_copy(tmp_path / "work")
    cfg = yaml.safe_load((work / "config.yaml").read_text())
    cfg["oracle"] = "labelstudio"
    (work / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    # the ground-truth run's proxy data, warm-up and its feature dumps: same files, same mtimes
    shutil.copytree(gt_work / "data", work / "data")
    for sub in ("warmup", "features"):
        shutil.copytree(gt_work / "results" / "gta5" / sub, work / "results" / "gta5" / sub)
    env = dict(cli_env(), LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=token)
    ls = LabelStudio(url, token)

    # 1. round 1 of both runs goes to Label Studio; the pipeline stops naming what is open
    run = _snakemake(work, env)
    assert run.returncode != 0
    assert "0 of 2 tasks of round 'gta5/s0/mada/10/stage1/round1of1' are annotated" in run.stderr
    assert f"Annotate them at {url}/projects/" in run.stderr
    assert not (work / "results" / RUNS[0]).exists()
    rounds = _annotate_open_rounds(work, ls)
    assert len(rounds) == 2

    # 2. round 1 fine-tunes, round 2 of RIPU selects and stops; one task misses an asked-for pixel
    run = _snakemake(work, env)
    assert run.returncode != 0 and (work / "results" / RUNS[0]).is_file() and (work / "results" / RUNS[2]).is_file()
    round2 = work / "results" / "gta5" / "select" / "s0" / "ripu_ra" / "10" / "ripu" / "round2of2" / "annotation"
    first = json.loads((round2 / "tasks.json").read_text())[0]["data"]["adaseg_id"]
    assert _annotate_open_rounds(work, ls, leave_out=first) == [str(round2)]
    run = _snakemake(work, env)
    assert run.returncode != 0
    assert f"(image '{first}'): 1 of the" in run.stderr and "asked-for pixels have no class" in run.stderr

    # 3. the annotator fixes it (the newest annotation counts): the DAG finishes
    info = json.loads((round2 / "project.json").read_text())
    task = next(t for t in ls.tasks(info["project"]) if t["data"]["adaseg_id"] == first)
    gt = _ground_truth(work, first)
    from adaseg.annotate.classes import CITYSCAPES_LABELIDS
    from adaseg.annotate.tasks import LABEL_CONTROL, brush_result

    names = {c.id: c.name for c in CITYSCAPES_LABELIDS}
    entry = next(t for t in json.loads((round2 / "tasks.json").read_text()) if t["data"]["adaseg_id"] == first)
    asked = _asked(entry, gt.shape)
    ls.annotate(task["id"], [brush_result(asked & (gt == c), LABEL_CONTROL, names[int(c)], f"fix{int(c)}")
                             for c in np.unique(gt[asked])])
    run = _snakemake(work, env)
    assert run.returncode == 0, run.stderr[-3000:]

    # imported labels are the ground truth on every asked-for pixel; masks are the selection's
    from adaseg.io import open_masks, plane

    for folder in [Path(r) for r in rounds] + [round2]:
        sel_masks = folder.parent / "masks.h5"
        with open_masks(folder / "masks.h5") as (ids, masks):
            got = {s: plane(masks, i).astype(bool) for i, s in enumerate(ids)}
        if sel_masks.is_file():
            with open_masks(sel_masks) as (ids, masks):
                want = {s: plane(masks, i).astype(bool) for i, s in enumerate(ids) if plane(masks, i).any()}
            assert got.keys() == want.keys() and all(np.array_equal(got[s], want[s]) for s in want)
        for s, m in got.items():
            label, gt = np.asarray(Image.open(folder / "labels" / f"{s}.png")), _ground_truth(work, s)
            assert m.any() and np.array_equal(label[m], gt[m]), s

    # the fine-tuned models equal the ground_truth oracle's, byte for byte
    for run_path in RUNS:
        got = torch.load(work / "results" / run_path, map_location="cpu", weights_only=False)["model"]
        want = torch.load(gt_work / "results" / run_path, map_location="cpu", weights_only=False)["model"]
        assert got.keys() == want.keys()
        for k in want:
            assert got[k].dtype == want[k].dtype and got[k].numpy().tobytes() == want[k].numpy().tobytes(), (run_path, k)
