"""A selection round as Label Studio tasks: one task per image, with the model's prediction as the
pre-annotation and the asked-for pixels marked.

A task's `data` holds the image (embedded as a data URI, or a URL from `annotation.image_url`),
the image id (`adaseg_id`) and how many pixels are asked for. Its one prediction holds one brush
region per predicted class on the asked-for pixels only (control `label`, Cityscapes names and
colours), and, for region and pixel selections, one region `asked` covering every asked-for pixel,
so the ask stays visible while the annotator repaints. Only control `label` is read back.
"""
from __future__ import annotations

import base64
import hashlib
import mimetypes
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from .asks import Ask
from .classes import AnnotationClass
from .rle import encode_mask

LABEL_CONTROL = "label"
ASKED_CONTROL = "asked"
ASKED_LABEL = "asked for"
ASKED_COLOUR = "#ff00ff"


def label_config(classes: tuple[AnnotationClass, ...]) -> str:
    """The project's labelling interface: the image, a brush per class, the asked-for marker."""
    labels = "\n".join(f"    <Label value={quoteattr(c.name)} background={quoteattr(c.hex)}/>" for c in classes)
    return (
        "<View>\n"
        '  <Header value="Paint a class on every magenta (asked-for) pixel; the pre-annotation is the model\'s '
        'guess there. Pixels outside the ask are not read."/>\n'
        '  <Image name="image" value="$image" zoom="true" zoomControl="true"/>\n'
        f'  <BrushLabels name="{LABEL_CONTROL}" toName="image">\n{labels}\n  </BrushLabels>\n'
        f'  <BrushLabels name="{ASKED_CONTROL}" toName="image">\n'
        f'    <Label value="{ASKED_LABEL}" background="{ASKED_COLOUR}" opacity="0.35"/>\n  </BrushLabels>\n'
        "</View>\n")


def image_reference(path: Path, root: Path, url: str | None) -> str:
    """The task's image: a data URI of the file (url None), or `url` with {path} (the file's
    absolute path without the leading '/', as Label Studio's local-files serving wants it) and
    {relpath} (its path under the dataset root) filled in."""
    if url:
        return url.format(path=str(path.resolve()).lstrip("/"), relpath=path.resolve().relative_to(root.resolve()).as_posix())
    kind = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode()


def brush_result(mask: np.ndarray, control: str, label: str, region_id: str) -> dict:
    h, w = mask.shape
    return {"id": region_id, "from_name": control, "to_name": "image", "type": "brushlabels",
            "original_width": int(w), "original_height": int(h), "image_rotation": 0,
            "value": {"format": "rle", "rle": encode_mask(mask), "brushlabels": [label]}}


def make_task(ask: Ask, prediction_ids: np.ndarray, classes: tuple[AnnotationClass, ...], image: str,
              model_version: str) -> dict:
    """One Label Studio task (import format) of an ask; `prediction_ids` are the model's guesses
    in the dataset's label encoding, at the image file's size."""
    name = {c.id: c.name for c in classes}
    result = []
    for cid in np.unique(prediction_ids[ask.asked]):
        result.append(brush_result(ask.asked & (prediction_ids == cid), LABEL_CONTROL, name[int(cid)], f"pred{int(cid)}"))
    if ask.unit != "image":
        result.append(brush_result(ask.asked, ASKED_CONTROL, ASKED_LABEL, "asked"))
    return {"data": {"image": image, "adaseg_id": ask.id, "adaseg_unit": ask.unit,
                     "asked_pixels": int(ask.asked.sum())},
            "predictions": [{"model_version": model_version, "result": result}]}


def project_title(prefix: str, run: str, selection: str | Path) -> str:
    """A title naming the round (Label Studio allows 50 characters): prefix, a digest of the run
    path and the selection list's bytes, and the run's last path parts."""
    digest = hashlib.sha1(run.encode() + Path(selection).read_bytes()).hexdigest()[:8]
    tail = "/".join(Path(run).parts[-3:])
    return f"{prefix} {digest} {tail}"[:50]
