"""A selection round in CVAT's "Segmentation mask 1.1" format, for teams that annotate in CVAT.

The zip holds `labelmap.txt` (one `name:r,g,b::` line per class), `ImageSets/Segmentation/default.txt`
(the image names) and `SegmentationClass/<image>.png`: the model's prediction on the asked-for
pixels as class colours, background elsewhere. Upload the round's images to a CVAT task, then
Actions -> Upload annotations -> "Segmentation mask 1.1" with this zip. CVAT tells classes apart by
colour, so the void labelIds that share Cityscapes' black get near-black colours of their own, and
'unlabeled' is CVAT's background. `asked/<image>.png` (255 = asked for) records the ask itself;
CVAT does not read it.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..io import atomic_path
from .asks import Ask
from .classes import AnnotationClass


def cvat_colours(classes: tuple[AnnotationClass, ...]) -> dict[int, tuple[int, int, int]]:
    """A distinct colour per class: Cityscapes' own, or (id, id, id) where an earlier class has it."""
    seen, out = set(), {}
    for c in classes:
        colour = c.colour if c.colour not in seen else (c.id, c.id, c.id)
        seen.add(colour)
        out[c.id] = colour
    return out


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def write_cvat_zip(path: str | Path, asks: list[Ask], predictions: dict[str, np.ndarray],
                   classes: tuple[AnnotationClass, ...]) -> None:
    """The round as a "Segmentation mask 1.1" zip; `predictions` are id maps at the image size."""
    colours = cvat_colours(classes)
    names = {c.id: ("background" if c.id == 0 else c.name) for c in classes}
    lines = ["# label:color_rgb:parts:actions"] + [f"{names[i]}:{r},{g},{b}::" for i, (r, g, b) in colours.items()]
    table = np.zeros((256, 3), np.uint8)
    for i, colour in colours.items():
        table[i] = colour
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("labelmap.txt", "\n".join(lines) + "\n")
        z.writestr("ImageSets/Segmentation/default.txt", "".join(f"{Path(a.image).stem}\n" for a in asks))
        for a in asks:
            stem = Path(a.image).stem
            pred = np.where(a.asked, predictions[a.id], 0).astype(np.uint8)
            z.writestr(f"SegmentationClass/{stem}.png", _png(table[pred]))
            z.writestr(f"asked/{stem}.png", _png(a.asked.astype(np.uint8) * 255))
