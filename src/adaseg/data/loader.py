"""The training input pipeline: deterministic batch streams read by `torch.utils.data.DataLoader`
workers, with pinned memory and prefetching.

Batch `it` of a stream is a pure function of (seed, stream id, it): the sample order is a fresh
seeded permutation per epoch and each sample's augmentation draws from a generator seeded by
(seed, stream id, it, position in the batch). Which process computes a batch therefore does not
matter: the DataLoader's workers, the training process itself (workers = 0), or the ranks of a
data-parallel run, each computing its share of the positions of the same global batch. A run
resumed at iteration k sees exactly the batches an uninterrupted run would.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .datasets import SegmentationDataset
from .labels import IGNORE

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> normalised float 3xHxW."""
    return (torch.from_numpy(img).permute(2, 0, 1).float() / 255.0 - MEAN) / STD


def augment(img: torch.Tensor, label: torch.Tensor, rng: np.random.Generator, crop: tuple[int, int],
            scale_range: tuple[float, float], flip: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Random rescale, pad-and-crop to `crop`, horizontal flip (image 3xHxW, label HxW). Images of
    any size come out at `crop`, so a batch of mixed sizes (GTA5's 1914x1052 and 1914x1054) stacks."""
    s = rng.uniform(*scale_range)
    h, w = img.shape[-2:]
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    if (nh, nw) != (h, w):
        img = F.interpolate(img[None], size=(nh, nw), mode="bilinear", align_corners=False)[0]
        label = F.interpolate(label[None, None].float(), size=(nh, nw), mode="nearest")[0, 0].long()
    ch, cw = crop
    ph, pw = max(ch - nh, 0), max(cw - nw, 0)
    if ph or pw:
        img = F.pad(img, (0, pw, 0, ph), value=0.0)
        label = F.pad(label, (0, pw, 0, ph), value=IGNORE)
    y0 = int(rng.integers(0, img.shape[-2] - ch + 1))
    x0 = int(rng.integers(0, img.shape[-1] - cw + 1))
    img, label = img[:, y0:y0 + ch, x0:x0 + cw], label[y0:y0 + ch, x0:x0 + cw]
    if flip and rng.random() < 0.5:
        img, label = img.flip(-1), label.flip(-1)
    return img, label


def shard(batch_size: int, rank: int, world: int) -> range:
    """The positions of a global batch that rank `rank` of `world` computes (contiguous, as equal as
    possible; every rank gets at least one position)."""
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} outside 0..{world - 1}")
    if batch_size < world:
        raise ValueError(f"a global batch of {batch_size} cannot be split over {world} processes "
                         f"(raise the batch size or lower train.gpus)")
    return range(rank * batch_size // world, (rank + 1) * batch_size // world)


class BatchStream:
    """One stream of (image, label) batches over `indices` of a dataset. `label_fn(i)` replaces the
    dataset's labels (pseudo-labels, masked active labels, no labels); it must be picklable or the
    DataLoader must fork (the default on Linux)."""

    def __init__(self, dataset: SegmentationDataset, indices, batch_size: int, seed: int, stream_id: int,
                 crop, scale_range=(1.0, 1.0), flip: bool = True,
                 label_fn: Callable[[int], np.ndarray] | None = None):
        self.ds, self.indices = dataset, np.asarray(indices, dtype=np.int64)
        if len(self.indices) == 0:
            raise ValueError(f"empty training stream over {dataset.kind} '{dataset.root}'")
        self.bs, self.seed, self.sid = batch_size, seed, stream_id
        self.crop = tuple(crop) if crop else dataset.image_size()
        self.scale_range, self.flip = tuple(scale_range), flip
        self.label_fn = label_fn or dataset.label
        self._perm_epoch, self._perm = -1, None

    def _index(self, pos: int) -> int:
        n = len(self.indices)
        epoch = pos // n
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, self.sid, epoch]).permutation(n)
            self._perm_epoch = epoch
        return int(self.indices[self._perm[pos % n]])

    def sample(self, it: int, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Position j of batch it: a pure function of (seed, stream id, it, j)."""
        i = self._index(it * self.bs + j)
        rng = np.random.default_rng([self.seed, self.sid, it, j])
        img = to_tensor(self.ds.image(i))
        lbl = torch.from_numpy(self.label_fn(i).astype(np.int64))
        return augment(img, lbl, rng, self.crop, self.scale_range, self.flip)

    def batch(self, it: int, rank: int = 0, world: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch `it` (this rank's share of it in a data-parallel run)."""
        pairs = [self.sample(it, j) for j in shard(self.bs, rank, world)]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


class StepBatches(torch.utils.data.Dataset):
    """Item `it`: {stream name: (images, labels)} of every stream at iteration it (one rank's share)."""

    def __init__(self, streams: dict[str, BatchStream], rank: int = 0, world: int = 1):
        self.streams, self.rank, self.world = streams, rank, world

    def __len__(self) -> int:  # indexed by iteration through the sampler; no natural length
        return 2 ** 62

    def __getitem__(self, it: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        return {name: s.batch(int(it), self.rank, self.world) for name, s in self.streams.items()}


def step_loader(streams: dict[str, BatchStream], start: int, stop: int, workers: int = 0,
                pin_memory: bool = False, prefetch: int = 2, rank: int = 0,
                world: int = 1) -> Iterator[tuple[int, dict]]:
    """Yield (it, batches) for it in [start, stop), computed ahead by `workers` DataLoader worker
    processes (0: in this process), in pinned memory when asked. Items come back in order."""
    if not streams or start >= stop:
        for it in range(start, stop):
            yield it, {}
        return
    kw = dict(num_workers=workers, pin_memory=pin_memory)
    if workers > 0:
        kw.update(prefetch_factor=max(1, prefetch), persistent_workers=False)
    loader = torch.utils.data.DataLoader(StepBatches(streams, rank, world), batch_size=None,
                                         sampler=range(start, stop), **kw)
    yield from zip(range(start, stop), loader)


def default_workers(cfg: dict, threads: int | None) -> int:
    """`train.workers`, else the job's threads (decoding runs beside the model step)."""
    w = cfg["train"].get("workers")
    return int(w) if w is not None else max(0, int(threads or 0))


def to_device(batch: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """Copy tensors to the device; asynchronous from pinned memory."""
    return tuple(t.to(device, non_blocking=True) for t in batch)


class H5Rows:
    """Row reader of an HDF5 dataset by image id that opens the file lazily in each process
    (adaseg.io.ProcessLocalH5: DataLoader workers open their own). Files of images of several sizes
    store planes padded to the largest and each image's (H, W) in `sizes`: rows come back cut to it.
    `close()` (or leaving a `with` block) closes the handle this process opened; a later read
    opens the file again."""

    def __init__(self, path: str, name: str, ids: list[str]):
        from ..errors import InputFileError
        from ..io import ProcessLocalH5, open_h5, read_ids, writer_of

        self.path, self.name = str(path), name
        with open_h5(self.path, "HDF5 file", ("ids", name)) as h5:
            self.row = {s: r for r, s in enumerate(read_ids(h5))}
        missing = [s for s in ids if s not in self.row]
        if missing:
            raise InputFileError(f"'{path}' has no rows for images {', '.join(missing[:3])}"
                                 f"{', ...' if len(missing) > 3 else ''} ({len(missing)} of the {len(ids)} it should "
                                 f"describe: written for other images); delete it and rebuild it with {writer_of(path)}")
        self._file = ProcessLocalH5(self.path)

    def __call__(self, image_id: str) -> np.ndarray:
        from ..io import plane

        return plane(self._file()[self.name], self.row[image_id])

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "H5Rows":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
