"""Annotations back from Label Studio: checked against the round's asks, written as label files.

Input is Label Studio's JSON export (a list of tasks, each with its `annotations`), from the server
or from a file. Each asked-for image must have exactly one task carrying a submitted annotation
whose control `label` paints a class of the label space on every asked-for pixel; every failure is
an AnnotationError naming the task. The newest submitted annotation of a task counts.

Output: one label PNG per image in the dataset's own id encoding at the image file's size (this
round's pixels painted over the previous round's file; pixels never asked for are 0, a void id),
and the round's masks.h5 (cumulative labelled pixels, also at the image file's size; fine-tuning
brings both to the size images are read at with the same nearest-neighbour mapping).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from ..errors import InputFileError
from ..io import atomic_path, create_planes, write_ids, write_plane
from .asks import Ask, mask_planes
from .classes import AnnotationClass, by_name
from .rle import RLEError, decode_mask
from .tasks import LABEL_CONTROL


class AnnotationError(InputFileError):
    """An annotation that does not answer the round's asks (missing, out of the label space,
    incomplete, or for an image the round did not ask for)."""


def _task_name(task: dict) -> str:
    data = task.get("data", {})
    return f"task {task.get('id', '?')} (image '{data.get('adaseg_id', '?')}')"


def submitted(task: dict) -> dict | None:
    """The newest submitted (not skipped) annotation of a task, or None."""
    done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    return max(done, key=lambda a: (a.get("updated_at") or "", a.get("id") or 0)) if done else None


def annotated_ids(tasks: list[dict]) -> set[str]:
    return {t.get("data", {}).get("adaseg_id") for t in tasks if submitted(t) is not None}


def match_tasks(asks: list[Ask], tasks: list[dict], where: str) -> dict[str, dict]:
    """image id -> its task; AnnotationError for a task of an image the round did not ask for, two
    tasks of one image, or an asked-for image without a task."""
    want = {a.id for a in asks}
    by_id: dict[str, dict] = {}
    for t in tasks:
        sid = t.get("data", {}).get("adaseg_id")
        if sid not in want:
            raise AnnotationError(f"{where}: {_task_name(t)} is for an image this round's selection did not ask for "
                                  "(a task of another round or project); remove it from the project or use the "
                                  "round's own project")
        if sid in by_id:
            raise AnnotationError(f"{where}: tasks {by_id[sid].get('id')} and {t.get('id')} are both for image '{sid}'; "
                                  "delete one of them")
        by_id[sid] = t
    missing = [a.id for a in asks if a.id not in by_id]
    if missing:
        raise AnnotationError(f"{where}: no task for image{'s' * (len(missing) > 1)} {', '.join(missing[:3])}"
                              f"{', ...' if len(missing) > 3 else ''} ({len(missing)} of the {len(asks)} asked for); "
                              "import the round's tasks.json into the project again")
    return by_id


def annotation_ids(ask: Ask, task: dict, classes: tuple[AnnotationClass, ...], where: str) -> np.ndarray:
    """The class id painted on each pixel of the task's image (-1 where nothing is painted),
    checked: every class is in the label space, no pixel has two classes, every asked-for pixel
    has one."""
    name = f"{where}: {_task_name(task)}"
    ann = submitted(task)
    if ann is None:
        raise AnnotationError(f"{name} has no submitted annotation; annotate it (or accept the pre-annotation) and "
                              "submit")
    known = by_name(classes)
    h, w = ask.size
    ids = np.full((h, w), -1, dtype=np.int16)
    for region in ann.get("result") or []:
        if not isinstance(region, dict):
            raise AnnotationError(f"{name}: an annotation result is {type(region).__name__} {str(region)[:40]!r}, not "
                                  "a region object; export the project again from Label Studio")
        if region.get("from_name") != LABEL_CONTROL or str(region.get("type") or "").lower() != "brushlabels":
            continue
        value = region.get("value")
        if not isinstance(value, dict):
            raise AnnotationError(f"{name}: brush region {region.get('id', '?')} has no 'value' object; export the "
                                  "project again from Label Studio")
        for label in value.get("brushlabels", []):
            if label not in known:
                raise AnnotationError(f"{name}: class '{label}' is not in the label space of the target "
                                      f"({', '.join(known)}); relabel that region with one of these")
        if len(value.get("brushlabels", [])) != 1:
            raise AnnotationError(f"{name}: a brush region has {len(value.get('brushlabels', []))} classes, not one; "
                                  "give every region exactly one class")
        cls = known[value["brushlabels"][0]]
        size = (region.get("original_height"), region.get("original_width"))
        if size != (h, w):
            raise AnnotationError(f"{name}: a '{cls.name}' region is for a {size[1]}x{size[0]} image, but the image is "
                                  f"{w}x{h}; the task's image was replaced, export the round's tasks again")
        try:
            mask = decode_mask(value.get("rle"), h, w)
        except RLEError as e:
            raise AnnotationError(f"{name}: the '{cls.name}' brush region cannot be decoded: {e}") from None
        clash = mask & (ids >= 0) & (ids != cls.id)
        if clash.any():
            r, c = np.argwhere(clash)[0]
            other = next(x.name for x in classes if x.id == ids[r, c])
            raise AnnotationError(f"{name}: {int(clash.sum())} pixels are painted both '{other}' and '{cls.name}' "
                                  f"(first at row {r}, column {c}); erase one of the two there and submit again")
        ids[mask] = cls.id
    blank = ask.asked & (ids < 0)
    if blank.any():
        r, c = np.argwhere(blank)[0]
        raise AnnotationError(f"{name}: {int(blank.sum())} of the {int(ask.asked.sum())} asked-for pixels have no class "
                              f"(first at row {r}, column {c}); paint them (a void class such as 'unlabeled' "
                              "counts) and submit again")
    return ids


def write_round_labels(ds, asks: list[Ask], tasks: list[dict], classes: tuple[AnnotationClass, ...], where: str,
                       labels_out: str | Path, masks_out: str | Path, previous_labels: str | Path | None = None,
                       previous_masks: str | None = None) -> dict:
    """Check the annotations of every ask and write the round's label folder and masks.h5 (see the
    module doc). Nothing is written when any task fails its check. Returns counts for the log."""
    by_id = match_tasks(asks, tasks, where)
    painted = {a.id: annotation_ids(a, by_id[a.id], classes, where) for a in asks}
    labels_out = Path(labels_out)
    tmp = labels_out.with_name(labels_out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    if previous_labels:
        shutil.copytree(previous_labels, tmp)
    else:
        tmp.mkdir(parents=True)
    for a in asks:
        path = tmp / f"{a.id}.png"
        label = np.asarray(Image.open(path)).copy() if path.is_file() else np.zeros(a.size, np.uint8)
        label[a.asked] = painted[a.id][a.asked]
        Image.fromarray(label.astype(np.uint8)).save(path)
    # the round's labelled pixels, at the image file's size: the previous round's and the asks
    prev = mask_planes(previous_masks, set(ds.ids))
    asked = {a.id: a for a in asks}
    pos = {s: i for i, s in enumerate(ds.ids)}
    ids = sorted(set(prev) | set(asked), key=pos.__getitem__)
    sizes = [ds.raw_size(pos[s]) for s in ids]
    with atomic_path(masks_out) as tmp_masks, h5py.File(tmp_masks, "w") as h5:
        write_ids(h5, ids)
        planes = create_planes(h5, "masks", sizes, "u1")
        for r, (s, size) in enumerate(zip(ids, sizes)):
            m = np.zeros(size, bool)
            if s in prev:
                if prev[s].shape != size:
                    raise InputFileError(f"previous masks '{previous_masks}': image '{s}' is "
                                         f"{prev[s].shape[1]}x{prev[s].shape[0]}, its file {size[1]}x{size[0]}; pass "
                                         "--previous-masks the masks.h5 of the previous annotation round")
                m |= prev[s]
            if s in asked:
                m |= asked[s].asked
            write_plane(planes, r, m.astype(np.uint8))
    shutil.rmtree(labels_out, ignore_errors=True)
    tmp.rename(labels_out)
    return {"images": len(asks), "asked_pixels": int(sum(int(a.asked.sum()) for a in asks)), "labelled_images": len(ids)}
