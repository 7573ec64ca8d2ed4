"""The classes an annotator picks from: every id of the dataset's own label encoding.

Cityscapes (and GTA5, which stores the same ids) label files hold Cityscapes labelIds 0..33; the 19
training classes are 14 of them, the others (unlabeled, ego vehicle, parking, ...) are void and
ignored in training and evaluation. The annotator gets all 34, with Cityscapes' names and colours,
so an imported label file is what the dataset's own ground truth would be on the asked-for pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class AnnotationClass:
    id: int  # the value stored in the dataset's label PNGs
    name: str
    colour: tuple[int, int, int]

    @property
    def hex(self) -> str:
        return "#%02x%02x%02x" % self.colour


# Cityscapes labelIds: id, name, colour (the Cityscapes benchmark's label definitions)
CITYSCAPES_LABELIDS = tuple(AnnotationClass(i, n, c) for i, n, c in [
    (0, "unlabeled", (0, 0, 0)), (1, "ego vehicle", (0, 0, 0)), (2, "rectification border", (0, 0, 0)),
    (3, "out of roi", (0, 0, 0)), (4, "static", (0, 0, 0)), (5, "dynamic", (111, 74, 0)),
    (6, "ground", (81, 0, 81)), (7, "road", (128, 64, 128)), (8, "sidewalk", (244, 35, 232)),
    (9, "parking", (250, 170, 160)), (10, "rail track", (230, 150, 140)), (11, "building", (70, 70, 70)),
    (12, "wall", (102, 102, 156)), (13, "fence", (190, 153, 153)), (14, "guard rail", (180, 165, 180)),
    (15, "bridge", (150, 100, 100)), (16, "tunnel", (150, 120, 90)), (17, "pole", (153, 153, 153)),
    (18, "polegroup", (153, 153, 153)), (19, "traffic light", (250, 170, 30)),
    (20, "traffic sign", (220, 220, 0)), (21, "vegetation", (107, 142, 35)), (22, "terrain", (152, 251, 152)),
    (23, "sky", (70, 130, 180)), (24, "person", (220, 20, 60)), (25, "rider", (255, 0, 0)),
    (26, "car", (0, 0, 142)), (27, "truck", (0, 0, 70)), (28, "bus", (0, 60, 100)),
    (29, "caravan", (0, 0, 90)), (30, "trailer", (0, 0, 110)), (31, "train", (0, 80, 100)),
    (32, "motorcycle", (0, 0, 230)), (33, "bicycle", (119, 11, 32)),
])

ENCODINGS = {"cityscapes": CITYSCAPES_LABELIDS, "gta5": CITYSCAPES_LABELIDS}


def annotation_classes(kind: str, dataset: str = "") -> tuple[AnnotationClass, ...]:
    """The classes of a dataset kind's label encoding (ConfigError for a kind annotators cannot
    label yet)."""
    if kind not in ENCODINGS:
        raise ConfigError(f"oracle: labelstudio needs a target whose labels are Cityscapes labelIds (kind cityscapes "
                          f"or gta5); datasets.{dataset or kind} is of kind '{kind}'")
    return ENCODINGS[kind]


def by_name(classes) -> dict[str, AnnotationClass]:
    return {c.name: c for c in classes}
