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


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())


def save_torch(path: str | Path, obj) -> None:
    import torch  # imported here: the jobs that only read HDF5 and JSON files do not load torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_npz(path: str | Path, **arrays) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def write_ids(h5, ids) -> None:
    """Store image ids as the variable-length string dataset 'ids' of an open HDF5 file."""
    import h5py
    h5.create_dataset("ids", data=np.array(list(ids), dtype=object), dtype=h5py.string_dtype())


def read_ids(h5) -> list[str]:
    """The 'ids' dataset of an open HDF5 file written by this package, as str."""
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
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def read_features(path: str | Path, name: str = "features") -> tuple[list[str], np.ndarray]:
    """(ids, per-image rows of dataset `name`, flattened to (N, -1)) of a feature dump. Float rows
    come back as float32, read straight into one array (no float64 copy); integer ones as stored."""
    import h5py

    with h5py.File(path, "r") as h5:
        if name not in h5:
            raise KeyError(f"'{path}' has no '{name}' (it holds {', '.join(h5.keys())})")
        ids = read_ids(h5)
        d = h5[name]
        f = d.astype(np.float32)[()] if d.dtype.kind == "f" else d[()]
    return ids, f.reshape(len(ids), -1)


@contextlib.contextmanager
def open_masks(path: str | Path):
    """`with open_masks(path) as (ids, masks)`: the image ids and the 'masks' dataset of a
    selection's masks.h5, open for the block. Read image i's mask with `plane(masks, i)`."""
    import h5py

    with h5py.File(path, "r") as h5:
        yield read_ids(h5), h5["masks"]


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
            self._h5, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._h5

    def close(self) -> None:
        """Close the handle if this process opened it (a forked worker's inherited copy belongs to
        its parent); a later call opens the file again."""
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5, self._pid = None, None
