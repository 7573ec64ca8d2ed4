"""File access: atomic writes (every output is written to a temporary file and renamed into place,
so a killed job never leaves a half-written file behind) and the readers of the HDF5 files this
package writes (ids, per-image planes, feature dumps, masks). torch is imported only where needed."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import InputFileError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; rename it onto `path` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_json(path: str | Path, obj) -> None:
    """Deterministic JSON (sorted keys, fixed indent), so reruns are byte-identical."""
    write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


class MissingInputError(InputFileError, FileNotFoundError):
    """An input file an earlier stage writes does not exist."""


# the stage that writes each kind of file, by a part of its path (for the fix in error messages)
_WRITERS = (
    ("masks.h5", "the selection rule that writes it (select_regions: `adaseg select-regions`, or select_superpixels: "
                 "`adaseg select-superpixels`)"),
    ("selection.json", "the selection rule that writes it (select_image, select_regions or select_superpixels)"),
    ("/features/", "rule features (`adaseg features`)"),
    ("/regions/", "rule region_features (`adaseg region-features`)"),
    ("/cache/", "rule cache_dataset (`adaseg cache`)"),
    ("/superpixels/", "rule superpixels (`adaseg superpixels`)"),
    ("/pseudo_labels/", "rule pseudo_labels (`adaseg pseudo-labels`)"),
    ("/eval/", "rule evaluate (`adaseg evaluate`)"),
)


def writer_of(path: str | Path) -> str:
    """The rule / command that writes a file of the pipeline, guessed from its path."""
    text = "/" + Path(path).as_posix()
    for part, writer in _WRITERS:
        if (part in text) if part.startswith("/") else Path(path).name == part:
            return writer
    return "the pipeline stage that writes it"


def rebuild_hint(path, writer: str | None = None) -> str:
    """'rebuild it with <writer>: `snakemake --cores 1 <path>`' (writer guessed from the path if None)."""
    import shlex

    return f"rebuild it with {writer or writer_of(path)}: `snakemake --cores 1 {shlex.quote(str(path))}`"


def _missing_or_empty(path: Path, kind: str, writer: str | None) -> InputFileError | None:
    """The error for a path that is missing, a folder or an empty file; None for a non-empty file."""
    if path.is_dir():
        return InputFileError(f"{kind} '{path}' is a folder, not a file; fix the path or {rebuild_hint(path, writer)}")
    if not path.is_file():
        return MissingInputError(f"{kind} '{path}' does not exist; fix the path or {rebuild_hint(path, writer)}")
    if path.stat().st_size == 0:
        return InputFileError(f"{kind} '{path}' is empty (0 bytes); delete it and {rebuild_hint(path, writer)}")
    return None


def read_json(path: str | Path, writer: str | None = None):
    """A JSON file an earlier stage wrote (selection lists, evaluations, tables' metrics); a missing,
    empty, truncated or non-JSON file raises InputFileError naming it and its writer (`writer`, or
    guessed from the path)."""
    path = Path(path)
    err = _missing_or_empty(path, "JSON file", writer)
    if err is not None:
        raise err
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        problem = "is not JSON text (binary content)"
    except json.JSONDecodeError as e:
        problem = f"is truncated or not valid JSON (line {e.lineno} column {e.colno}: {e.msg})"
    raise InputFileError(f"JSON file '{path}' {problem}; delete it and {rebuild_hint(path, writer)}")


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@contextlib.contextmanager
def open_h5(path: str | Path, kind: str = "HDF5 file", need: tuple[str, ...] = (), writer: str | None = None):
    """`with open_h5(path, kind, need) as h5`: an HDF5 file an earlier stage wrote, open read-only.
    A missing, empty, truncated or non-HDF5 file, or one without the datasets in `need` (a file of
    another kind), raises InputFileError naming the file and the rule / command that writes it."""
    import h5py

    path = Path(path)
    err = _missing_or_empty(path, kind, writer)
    if err is not None:
        raise err
    try:
        h5 = h5py.File(path, "r")
    except OSError:
        with open(path, "rb") as f:
            head = f.read(8)
        problem = ("is truncated or damaged (an HDF5 header but the file cannot be opened)" if head == _HDF5_SIGNATURE
                   else f"is not an HDF5 file ({path.stat().st_size} bytes without the HDF5 signature)")
        raise InputFileError(f"{kind} '{path}' {problem}; delete it and {rebuild_hint(path, writer)}") from None
    with h5:
        missing = [n for n in need if n not in h5]
        if missing:
            raise InputFileError(
                f"{kind} '{path}' is a foreign {kind}: an HDF5 file without {', '.join(repr(n) for n in missing)} "
                f"(it holds {', '.join(h5.keys()) or 'nothing'}); point to the right file, or delete it and "
                f"{rebuild_hint(path, writer)}")
        yield h5


def save_torch(path: str | Path, obj) -> None:
    """torch.save `obj` to `path` atomically, byte-identical for the same object: torch names the
    archive's root folder after the file it is given (here the random temporary name), but 'archive'
    for a file object, so the archive goes through one."""
    import torch  # imported here: the jobs that only read HDF5 and JSON files do not load torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def save_npz(path: str | Path, **arrays) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def write_ids(h5, ids) -> None:
    """Store image ids as the variable-length string dataset 'ids' of an open HDF5 file."""
    import h5py
    h5.create_dataset("ids", data=np.array(list(ids), dtype=object), dtype=h5py.string_dtype())


def read_ids(h5) -> list[str]:
    """The 'ids' dataset of an open HDF5 file written by this package, as str (InputFileError naming
    the file when it has none: a file of another kind)."""
    if "ids" not in h5:
        raise InputFileError(f"'{h5.filename}' is an HDF5 file without image 'ids' (it holds "
                             f"{', '.join(h5.keys()) or 'nothing'}), so this package did not write it; "
                             f"pass the file the pipeline writes, or delete it and {rebuild_hint(h5.filename, None)}")
    return [s.decode() if isinstance(s, bytes) else s for s in h5["ids"][:]]


def create_planes(h5, name: str, sizes, dtype: str, fill: int = 0):
    """A per-image plane dataset (label masks, pseudo-labels, superpixels) of an open HDF5 file, for
    images of the sizes (H, W) given: one gzip-compressed chunk per image, planes padded to the
    largest size with `fill`, and each image's own size stored in 'sizes' (read back by `plane`)."""
    sizes = np.asarray(sizes, dtype=np.int32).reshape(-1, 2)
    h, w = (int(v) for v in sizes.max(0))
    if "sizes" not in h5:
        h5.create_dataset("sizes", data=sizes)
    elif not np.array_equal(h5["sizes"][:], sizes):
        raise ValueError(f"'{h5.filename}': planes '{name}' for other image sizes than the file's")
    return h5.create_dataset(name, (len(sizes), h, w), dtype=dtype, chunks=(1, h, w), compression="gzip",
                             fillvalue=fill)


def write_plane(dset, i: int, plane) -> None:
    """Store image i's plane (its own size) in a dataset made by `create_planes`."""
    h, w = plane.shape
    if (h, w) == dset.shape[1:]:
        dset[i] = plane
    else:
        dset[i, :h, :w] = plane


def plane(dset, i: int):
    """Image i's plane of a per-image plane dataset, cut to the image's own size when the file
    stores sizes (files of one size hold the planes as they are)."""
    row = dset[i]
    sizes = dset.file.get("sizes")
    if sizes is not None:
        h, w = sizes[i]
        row = row[:h, :w]
    return row


def load_torch(path: str | Path):
    """The object of a torch file written by `save_torch` (tensors and plain containers only:
    weights_only=True), on the CPU. A file that is missing, empty, cut short, not a torch archive or
    holding other objects raises adaseg.errors.CheckpointError (one line, without torch's advice)."""
    import pickle

    import torch

    from .errors import CheckpointError

    path = Path(path)
    rerun = "rerun the stage that wrote it (adaseg warmup / adaseg finetune)"
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise CheckpointError(f"checkpoint '{path}' {what}; run the stage that writes it (adaseg warmup / adaseg "
                              "finetune) first or fix the path")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"checkpoint '{path}' is empty (0 bytes); delete it and {rerun}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch's messages span lines and advise weights_only=False: replace them
        with open(path, "rb") as f:
            zipped = f.read(4) == b"PK\x03\x04"
        if not zipped:
            problem = f"is not a torch checkpoint ({size} bytes without a torch zip archive header)"
        elif isinstance(e, pickle.UnpicklingError):
            raise CheckpointError(f"checkpoint '{path}' holds objects other than tensors and plain containers, "
                                  "so adaseg did not write it; point to a checkpoint written by adaseg warmup "
                                  "or adaseg finetune") from None
        else:
            problem = f"is truncated or damaged ({size} bytes, not a complete torch zip archive)"
        raise CheckpointError(f"checkpoint '{path}' {problem}; delete it and {rerun}") from None


def read_features(path: str | Path, name: str = "features") -> tuple[list[str], np.ndarray]:
    """(ids, per-image rows of dataset `name`, flattened to (N, -1)) of a feature dump. Float rows
    come back as float32, read straight into one array (no float64 copy); integer ones as stored."""
    with open_h5(path, "feature dump", ("ids", name)) as h5:
        ids = read_ids(h5)
        d = h5[name]
        try:
            f = d.astype(np.float32)[()] if d.dtype.kind == "f" else d[()]
        except OSError:
            raise InputFileError(f"feature dump '{path}' is truncated or damaged (its '{name}' rows cannot be read); "
                                 f"delete it and {rebuild_hint(path, None)}") from None
    if len(ids) == 0 or f.shape[0] != len(ids):
        raise InputFileError(f"feature dump '{path}' holds {f.shape[0]} rows of '{name}' for {len(ids)} image ids "
                             f"(a dump cut short or of another kind); delete it and {rebuild_hint(path, None)}")
    if f.dtype.kind == "f" and not np.isfinite(f).all():
        row = int(np.flatnonzero(~np.isfinite(f.reshape(len(ids), -1)).all(1))[0])
        raise InputFileError(f"feature dump '{path}': the '{name}' row of image '{ids[row]}' holds NaN or infinite "
                             f"values (a model with non-finite weights?); delete it and {rebuild_hint(path, None)}")
    return ids, f.reshape(len(ids), -1)


@contextlib.contextmanager
def open_masks(path: str | Path):
    """`with open_masks(path) as (ids, masks)`: the image ids and the 'masks' dataset of a
    selection's masks.h5, open for the block. Read image i's mask with `plane(masks, i)`. A missing,
    truncated or non-HDF5 file, or a foreign masks file (an HDF5 file without 'masks' / 'ids', or
    with a mask count other than its id count) raises InputFileError naming it and its writer."""
    with open_h5(path, "masks file", ("ids", "masks"), writer_of("masks.h5")) as h5:
        ids, masks = read_ids(h5), h5["masks"]
        if masks.ndim != 3 or masks.shape[0] != len(ids):
            raise InputFileError(f"masks file '{path}' is a foreign masks file: 'masks' of shape {masks.shape} "
                                 f"for {len(ids)} image ids; delete it and {rebuild_hint(path, writer_of('masks.h5'))}")
        yield ids, masks


class ProcessLocalH5:
    """An HDF5 file opened read-only on first use in each process: an h5py handle must not cross a
    fork into DataLoader workers, so a pickled or forked copy opens its own. Call it for the file."""

    def __init__(self, path: str | Path):
        self.path, self._pid, self._h5 = str(path), None, None

    def __getstate__(self):
        return dict(self.__dict__, _pid=None, _h5=None)

    def __call__(self):
        import h5py

        if self._pid != os.getpid():
            try:
                self._h5 = h5py.File(self.path, "r")
            except OSError:
                raise InputFileError(f"'{self.path}' cannot be opened as HDF5 (missing, truncated or replaced while "
                                     f"in use); delete it and {rebuild_hint(self.path, None)}") from None
            self._pid = os.getpid()
        return self._h5

    def close(self) -> None:
        """Close the handle if this process opened it (a forked worker's inherited copy belongs to
        its parent); a later call opens the file again."""
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5, self._pid = None, None
