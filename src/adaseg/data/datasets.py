"""Readers for the real GTA5, SYNTHIA-RAND-CITYSCAPES and Cityscapes folder layouts.

The proxy benchmark is written in exactly these layouts, so one reader serves both.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..errors import DatasetError
from . import labels as L

LAYOUTS = {
    "gta5": "<root>/images/<id>.png and <root>/labels/<id>.png (Cityscapes labelIds)",
    "synthia": "<root>/RGB/<id>.png and <root>/GT/LABELS/<id>.png (16-bit PNG, SYNTHIA id in channel 0)",
    "cityscapes": "<root>/leftImg8bit/<split>/<city>/<name>_leftImg8bit.png and "
    "<root>/gtFine/<split>/<city>/<name>_gtFine_labelIds.png",
}


class DatasetLayoutError(DatasetError, FileNotFoundError):
    """A dataset folder is missing, empty, or not in the layout its kind expects."""


class DatasetReadError(DatasetError, ValueError):
    """An image or label file cannot be decoded, or a label does not have its image's size."""


class DatasetSizeError(DatasetError, ValueError):
    """A split whose images are not all of one size where one size is needed."""


_REPLACE = "replace it with a good copy from the dataset's download (or delete the image and its label)"


@dataclass(frozen=True)
class Sample:
    id: str
    image: Path
    label: Path | None


def _layout_error(kind: str, root: Path, problem: str) -> DatasetLayoutError:
    return DatasetLayoutError(
        f"{kind} dataset at '{root}': {problem}. Expected layout: {LAYOUTS[kind]}. "
        f"Set datasets.<name>.root in the config to the folder that holds it."
    )


def _pngs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.png") if p.is_file())


def scan(kind: str, root: str | Path, split: str = "train", with_labels: bool = True) -> list[Sample]:
    """List the samples of a dataset folder, checking the layout; ids are sorted."""
    root = Path(root)
    if kind not in LAYOUTS:
        raise ValueError(f"unknown dataset kind '{kind}' (known: {', '.join(LAYOUTS)})")
    if not root.is_dir():
        raise _layout_error(kind, root, "the folder does not exist")
    if kind == "gta5":
        img_dir, lbl_dir = root / "images", root / "labels"
        pairs = [(p.stem, p, lbl_dir / p.name) for p in _pngs(img_dir)] if img_dir.is_dir() else []
        where = img_dir
    elif kind == "synthia":
        img_dir, lbl_dir = root / "RGB", root / "GT" / "LABELS"
        pairs = [(p.stem, p, lbl_dir / p.name) for p in _pngs(img_dir)] if img_dir.is_dir() else []
        where = img_dir
    else:
        img_dir, lbl_dir = root / "leftImg8bit" / split, root / "gtFine" / split
        pairs = []
        if img_dir.is_dir():
            for p in _pngs(img_dir):
                if not p.name.endswith("_leftImg8bit.png"):
                    continue
                stem = p.name[: -len("_leftImg8bit.png")]
                lbl = lbl_dir / p.parent.name / f"{stem}_gtFine_labelIds.png"
                pairs.append((stem, p, lbl))
        where = img_dir
    if not pairs:
        raise _layout_error(kind, root, f"no images found under '{where}'")
    samples = []
    for sid, img, lbl in pairs:
        if with_labels and not lbl.is_file():
            raise _layout_error(kind, root, f"label file '{lbl}' for image '{img}' is missing")
        samples.append(Sample(sid, img, lbl if with_labels else None))
    return samples


def read_rgb(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB uint8 HxWx3, resized to size=(H, W) when given (area averaging when shrinking, bilinear
    when enlarging), in one pass. Decoded with OpenCV: 1.5-1.8x faster than PIL on GTA5 and
    Cityscapes-size PNGs, same pixels (benchmarks/decode.py)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetReadError(f"cannot read image '{path}': {_unreadable(path)}; {_REPLACE}")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if size is not None and img.shape[:2] != tuple(size):
        shrink = size[0] * size[1] < img.shape[0] * img.shape[1]
        img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return img


def _unreadable(path: Path) -> str:
    path = Path(path)
    if not path.is_file():
        return "the file does not exist"
    size = path.stat().st_size
    return "the file is empty (0 bytes)" if size == 0 else f"not a decodable image ({size} bytes: truncated or not a PNG)"


def image_header_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image file from its header (nothing decoded); DatasetReadError naming the file
    when it is missing, empty or not an image."""
    try:
        with Image.open(path) as im:
            return im.size[1], im.size[0]
    except (OSError, ValueError) as e:  # PIL.UnidentifiedImageError is an OSError
        reason = _unreadable(path) if not Path(path).is_file() or Path(path).stat().st_size == 0 else \
            f"not a readable image ({' '.join(str(e).split())})"
        raise DatasetReadError(f"cannot read image '{path}': {reason}; {_REPLACE}") from None


def _read_raw_label(path: Path, kind: str) -> np.ndarray:
    if kind == "synthia":
        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise DatasetReadError(f"cannot read label '{path}': {_unreadable(path)}; {_REPLACE}")
        # cv2 returns BGR; SYNTHIA's class id is channel 0 in RGB order, i.e. the last here.
        return arr[:, :, 2] if arr.ndim == 3 else arr
    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P", "I", "I;16"):
                raise DatasetReadError(
                    f"label '{path}' has mode {im.mode}; expected a single-channel id map "
                    f"(an RGB colour label was given instead of labelIds?)"
                )
            return np.asarray(im).copy()
    except OSError as e:
        reason = _unreadable(path) if not Path(path).is_file() or Path(path).stat().st_size == 0 else \
            f"not a readable image ({' '.join(str(e).split())})"
        raise DatasetReadError(f"cannot read label '{path}': {reason}; {_REPLACE}") from None


def check_pair_size(label: Path, label_shape, image: Path, image_size: tuple[int, int]) -> None:
    """A label must have its image's raw size: `resize` reads both at one size (area/bilinear for the
    image, nearest for the label), it does not repair a mismatched pair. DatasetReadError naming both."""
    h, w = (int(v) for v in label_shape[:2])
    if (h, w) != tuple(image_size):
        raise DatasetReadError(
            f"label '{label}' is {w}x{h} but its image '{image}' is {image_size[1]}x{image_size[0]}: a label must "
            f"have its image's size (datasets.<name>.resize resizes both, it does not repair a pair); replace the "
            f"label with the right one, resize it to the image with nearest-neighbour interpolation, or delete the pair")


def read_label(path: Path, kind: str, label_space: str, size: tuple[int, int] | None = None,
               image: Path | None = None, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Training ids (uint8, 255 = ignore) of a label file, in `label_space`, resized (nearest) to
    size=(H, W) when given. With `image` (its image file; `image_size` its raw (H, W) if known), a
    label whose raw size is not the image's raw size raises DatasetReadError naming both files."""
    raw = _read_raw_label(path, kind)
    if image is not None:
        check_pair_size(path, raw.shape, image, image_size or image_header_size(image))
    name = str(path)
    if kind == "synthia":
        if label_space != "synthia16":
            raise ValueError("SYNTHIA labels are only defined in the 16-class space 'synthia16'")
        ids = L.synthia_to_trainids16(raw, name)
    else:
        ids = L.labelids_to_trainids(raw, name)
        if label_space == "synthia16":
            ids = L.trainids19_to_trainids16(ids)
    return ids if size is None else resize_nearest(ids, size)


def resize_nearest(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A label, mask or class-id plane (bool or uint8) resized with nearest-neighbour to size=(H, W)
    (itself when it has that size). Every per-pixel plane of an image goes through this one mapping
    (PIL's, pixel centres), so a label file and a mask at the file's size stay aligned when read at
    another size."""
    if plane.shape == tuple(size):
        return plane
    resized = Image.fromarray(plane.astype(np.uint8, copy=False)).resize((size[1], size[0]), Image.NEAREST)
    return np.asarray(resized).astype(plane.dtype, copy=False)


class SegmentationDataset:
    """Samples of one split of one dataset, read on demand (nothing is held in memory). With
    `cache` (a file written by `adaseg.data.cache.write_cache`), images and training labels come
    from the decoded-sample cache instead of the PNGs (same pixels, no decoding)."""

    def __init__(self, kind: str, root: str | Path, split: str = "train", label_space: str = "cityscapes19",
                 resize: tuple[int, int] | None = None, with_labels: bool = True, cache: str | Path | None = None):
        self.kind, self.root, self.split = kind, Path(root), split
        self.name = kind  # the config's dataset name, set by open_dataset (for messages)
        self.no_labels_reason = "it was opened without labels"
        self.label_space = label_space
        self.resize = tuple(resize) if resize else None
        self.samples = scan(kind, root, split, with_labels)
        self.ids = [s.id for s in self.samples]
        self._sizes: list[tuple[int, int]] | None = None
        self._raw_sizes: dict[int, tuple[int, int]] = {}
        self.cache = None
        if cache is not None:
            from .cache import CachedSamples

            self.cache = CachedSamples(cache, self.ids, self.resize, label_space)
            self._sizes = self.cache.sizes

    def __len__(self) -> int:
        return len(self.samples)

    def image(self, i: int) -> np.ndarray:
        if self.cache is not None:
            return self.cache.image(i)
        return read_rgb(self.samples[i].image, self.resize)

    def label(self, i: int) -> np.ndarray:
        s = self.samples[i]
        if s.label is None:
            raise DatasetError(f"{self.kind} '{self.root}' image '{s.id}': {self.no_labels_reason}")
        if self.cache is not None:
            ids = self.cache.label(i)
            return L.trainids19_to_trainids16(ids) if self.cache.label_space != self.label_space else ids
        return read_label(s.label, self.kind, self.label_space, self.resize, s.image, self.raw_size(i))

    def raw_size(self, i: int) -> tuple[int, int]:
        """(H, W) of image i's file (before resize), from its header, remembered."""
        if i not in self._raw_sizes:
            if self._sizes is not None and self.resize is None and self.cache is None:
                self._raw_sizes[i] = self._sizes[i]
            else:
                self._raw_sizes[i] = image_header_size(self.samples[i].image)
        return self._raw_sizes[i]

    def image_sizes(self) -> list[tuple[int, int]]:
        """(H, W) of every image as read (after resize), from the PNG headers (nothing decoded)."""
        if self.resize is not None and self.cache is None:
            return [self.resize] * len(self)
        if self._sizes is None:
            self._sizes = [self.raw_size(i) for i in range(len(self))]
        return list(self._sizes)

    def image_dir(self) -> Path:
        """The folder the split's images are listed from."""
        sub = {"gta5": ("images",), "synthia": ("RGB",), "cityscapes": ("leftImg8bit", self.split)}[self.kind]
        return self.root.joinpath(*sub)

    def pixel_counts(self) -> np.ndarray:
        """Pixels per image as read (what labelling the whole image costs)."""
        return np.asarray([h * w for h, w in self.image_sizes()], dtype=np.int64)

    def image_size(self) -> tuple[int, int]:
        """(H, W) shared by every image as read (after resize); an error naming the sizes when the
        split mixes sizes (GTA5 has 1914x1052 and 1914x1054 images): set `resize` or a `crop`."""
        all_sizes = self.image_sizes()
        sizes = sorted(set(all_sizes))
        if len(sizes) > 1:
            first = {}
            for s, size in zip(self.samples, all_sizes):
                first.setdefault(size, s.image.name)
            seen = ", ".join(f"{w}x{h} (e.g. {first[(h, w)]})" for h, w in sizes[:4])
            raise DatasetSizeError(
                f"{self.kind} images under '{self.image_dir()}' (split {self.split}) mix sizes {seen}: set "
                f"datasets.{self.name}.resize: [H, W] in the config to read every image at one size, or "
                f"train.crop: [H, W] to train on crops of that size")
        return sizes[0]


def default_label_space(kind: str) -> str:
    """SYNTHIA trains and evaluates in its 16-class space, GTA5 and Cityscapes in the 19 classes."""
    return "synthia16" if kind == "synthia" else "cityscapes19"


def open_dataset(cfg: dict, name: str, split: str = "train", label_space: str | None = None,
                 with_labels: bool = True) -> SegmentationDataset:
    """Open dataset `name` of the config (datasets.<name>: kind, root, resize)."""
    d = cfg["datasets"][name]
    space = label_space or default_label_space(d["kind"])
    cache = None
    if d.get("cache"):
        from .cache import cache_path

        cache = cache_path(cfg, name, split)
    # a pool without labels (labels: none) has no label files in its train split
    unlabelled = split == "train" and d.get("labels") == "none"
    ds = SegmentationDataset(d["kind"], d["root"], split, space, d.get("resize"), with_labels and not unlabelled, cache)
    ds.name = name
    if unlabelled:
        ds.no_labels_reason = (f"datasets.{name} has labels: none (an unlabelled pool): its labels come from "
                               "annotators (oracle: labelstudio), not from label files")
    return ds


def with_label_files(ds: SegmentationDataset, folder: str | Path) -> SegmentationDataset:
    """The dataset with the label of every image that has `<folder>/<id>.png` read from there (the
    labels annotators gave, in the dataset's own id encoding, at the image file's size); other
    images keep their label files (or none)."""
    folder = Path(folder)
    ds.samples = [Sample(s.id, s.image, folder / f"{s.id}.png") if (folder / f"{s.id}.png").is_file() else s
                  for s in ds.samples]
    ds.cache = None  # a cache holds the dataset's own labels
    return ds
