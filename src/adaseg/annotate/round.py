"""One annotation round: export the asks (tasks, project), then import the annotations.

`export_round` writes, into the round's annotation folder: `tasks.json` (Label Studio's import
format), `label_config.xml` (the labelling interface) and `project.json` (where the tasks went:
the Label Studio project, or `offline`), and with `cvat` a CVAT "Segmentation mask 1.1" zip. With
LABEL_STUDIO_URL set it creates the round's project (or finds it again by title) and imports the
tasks once.

`import_round` reads the annotations (from the project, or from a Label Studio JSON export file),
checks them (adaseg.annotate.imported) and writes the round's label folder and masks.h5. While
tasks are unannotated it waits up to `annotation.wait_minutes`, then raises AnnotationPending
naming what is missing and how to go on.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from ..data import labels as L
from ..data.datasets import open_dataset, resize_nearest
from ..errors import AdasegError
from ..io import read_json, write_json, write_text
from .asks import Ask, round_asks
from .classes import annotation_classes
from .cvat import write_cvat_zip
from .imported import AnnotationError, annotated_ids, write_round_labels
from .labelstudio import KEY_ENV, URL_ENV, LabelStudio, server_from_env
from .tasks import image_reference, label_config, make_task, project_title

log = logging.getLogger(__name__)
EXPORT_FILE = "export.json"  # where an offline round's Label Studio JSON export is looked for


class AnnotationPending(AdasegError):
    """The round's tasks are not all annotated yet: not an error in the inputs, a pause."""

    exit_code = 3


def _target(cfg: dict, target: str):
    ds = open_dataset(cfg, target, "train", with_labels=False)
    return ds, annotation_classes(cfg["datasets"][target]["kind"], target)


def label_ids_of(space: str) -> np.ndarray:
    """Training id of a label space -> the Cityscapes labelId of that class (by class name)."""
    names = L.LABEL_SPACES[space]
    return np.array([L.TRAINID_TO_LABELID[L.CITYSCAPES_CLASSES.index(n)] for n in names], np.uint8)


@torch.inference_mode()
def predict_ids(cfg: dict, checkpoint: str, ds, asks: list[Ask], threads: int | None = None) -> dict[str, np.ndarray]:
    """The model's argmax on each asked-for image as dataset label ids, at the image file's size."""
    from ..evaluate import class_probabilities
    from ..models.checkpoint import inference_model
    from ..data.loader import to_tensor

    model, meta, rt = inference_model(cfg, checkpoint, threads)
    to_ids = label_ids_of(meta["label_space"])
    out = {}
    for a in asks:
        img = ds.image(a.index)
        prob = class_probabilities(model, rt.inputs(to_tensor(img)[None]), img.shape[:2], cfg["evaluation"]["flip"])
        out[a.id] = to_ids[resize_nearest(prob.argmax(1)[0].cpu().numpy().astype(np.uint8), a.size)]
    return out


def export_round(cfg: dict, *, selection: str, checkpoint: str, target: str, out_dir: str | Path, run: str,
                 previous_masks: str | None = None, offline: bool = False, threads: int | None = None) -> dict:
    acfg = cfg.get("annotation", {})
    ds, classes = _target(cfg, target)
    asks = round_asks(ds, selection, previous_masks)
    preds = predict_ids(cfg, checkpoint, ds, asks, threads)
    url = acfg.get("image_url")
    version = Path(checkpoint).stem
    tasks = [make_task(a, preds[a.id], classes, image_reference(a.image, ds.root, url), version) for a in asks]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "tasks.json", tasks)
    config_xml = label_config(classes)
    write_text(out / "label_config.xml", config_xml)
    if acfg.get("cvat"):
        write_cvat_zip(out / "cvat.zip", asks, preds, classes)
    title = project_title(acfg.get("project_prefix", "adaseg"), run, selection)
    info = {"title": title, "run": run, "selection": str(selection), "images": [a.id for a in asks],
            "asked_pixels": int(sum(int(a.asked.sum()) for a in asks))}
    server = None if offline else server_from_env()
    if server is None:
        info.update(mode="offline", export_file=str(out / EXPORT_FILE))
        log.info("%d tasks written to %s (offline: import them into a Label Studio project with %s)", len(tasks),
                 out / "tasks.json", out / "label_config.xml")
    else:
        ls = LabelStudio(*server)
        project = ls.find_project(title)
        if project is None:
            project = ls.create_project(title, f"adaseg selection round {run} ({selection})", config_xml)
        if not project.get("task_number"):
            ls.import_tasks(project["id"], tasks)
            ls.prelabel_with(project["id"], version)
        info.update(mode="labelstudio", url=ls.url, project=project["id"], link=ls.project_link(project["id"]))
        log.info("%d tasks in Label Studio project '%s': %s", len(tasks), title, info["link"])
    write_json(out / "project.json", info)
    return info


def _pending(info: dict, asks: list[Ask], done: set[str], where: str, how: str) -> AnnotationPending:
    left = [a.id for a in asks if a.id not in done]
    return AnnotationPending(
        f"{where}: {len(asks) - len(left)} of {len(asks)} tasks of round '{info['run']}' are annotated; waiting for "
        f"image{'s' * (len(left) > 1)} {', '.join(left[:5])}{', ...' if len(left) > 5 else ''}. {how}, then run the "
        "same command again (finished rounds are kept)")


def _read_export(path: str) -> list:
    fix = "export the Label Studio project with Export -> JSON to that path"
    if not Path(path).is_file():
        raise AnnotationError(f"annotations '{path}' do not exist; {fix}")
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AnnotationError(f"annotations '{path}' are not JSON ({type(e).__name__}: {e}); {fix}") from None


def import_round(cfg: dict, *, selection: str, target: str, project: str, labels_out: str | Path,
                 masks_out: str | Path, annotations: str | None = None, previous_labels: str | None = None,
                 previous_masks: str | None = None) -> dict:
    acfg = cfg.get("annotation", {})
    info = read_json(project, "adaseg export-tasks (rule annotation_tasks)")
    ds, classes = _target(cfg, target)
    asks = round_asks(ds, selection, previous_masks)
    if annotations is None and info.get("mode") == "offline":
        annotations = info["export_file"]
        if not Path(annotations).is_file():
            raise _pending(info, asks, set(), f"'{annotations}' does not exist",
                           f"Import {Path(project).with_name('tasks.json')} into a Label Studio project whose labelling "
                           f"interface is {Path(project).with_name('label_config.xml')}, annotate every task, export "
                           f"the project as JSON to {annotations} (or set {URL_ENV} and {KEY_ENV} and rerun)")
    if annotations is not None:
        where = f"annotations '{annotations}'"
        tasks = _read_export(annotations)
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            raise AnnotationError(f"{where} is not a Label Studio JSON export (a list of tasks); export the project "
                                  "with Export -> JSON")
    else:
        server = server_from_env()
        if server is None:
            raise AnnotationPending(f"'{project}' names Label Studio project {info['project']} at {info['url']}, but "
                                    f"{URL_ENV} is not set; export {URL_ENV}={info['url']} and {KEY_ENV}")
        ls = LabelStudio(*server)
        where = f"Label Studio project {info['project']} '{info['title']}' ({info.get('link')})"
        deadline = time.monotonic() + 60 * float(acfg.get("wait_minutes", 0))
        while True:
            tasks = ls.export(info["project"])
            done = annotated_ids(tasks)
            if all(a.id in done for a in asks):
                break
            if time.monotonic() >= deadline:
                raise _pending(info, asks, done, where, f"Annotate them at {info.get('link')}")
            log.info("%s: %d of %d tasks annotated; checking again in %gs", where, len(done & {a.id for a in asks}),
                     len(asks), acfg.get("poll_seconds", 30))
            time.sleep(float(acfg.get("poll_seconds", 30)))
    counts = write_round_labels(ds, asks, tasks, classes, where, labels_out, masks_out, previous_labels, previous_masks)
    log.info("%s: %d images, %d asked-for pixels labelled; labels in %s", where, counts["images"],
             counts["asked_pixels"], labels_out)
    return counts
