"""adaseg.data.loader: batches do not depend on which process computes them; padded planes are cut per image."""
import numpy as np
import pytest
import torch

from adaseg.data.datasets import open_dataset
from adaseg.data.loader import BatchStream, H5Rows, shard, step_loader


def _stream(cfg, bs=4):
    ds = open_dataset(cfg, "gta5")
    return BatchStream(ds, range(len(ds)), bs, 7, 3, crop=(24, 48), scale_range=(0.7, 1.3))


def test_shard_splits_the_global_batch():
    assert [list(shard(5, r, 2)) for r in range(2)] == [[0, 1], [2, 3, 4]]
    assert [list(shard(4, r, 4)) for r in range(4)] == [[0], [1], [2], [3]]
    with pytest.raises(ValueError, match="cannot be split"):
        shard(1, 0, 2)


def test_worker_batches_equal_in_process_batches(proxy_config):
    s = _stream(proxy_config)
    direct = {it: s.batch(it) for it in range(3, 9)}  # crosses an epoch boundary (12 images, batch 4)
    got = dict(step_loader({"src": s}, 3, 9, workers=2, prefetch=2))
    assert sorted(got) == list(range(3, 9))
    for it, (x, y) in direct.items():
        assert torch.equal(got[it]["src"][0], x) and torch.equal(got[it]["src"][1], y)
    # a resumed run (start 6) sees the same batches as an uninterrupted one
    resumed = dict(step_loader({"src": s}, 6, 9, workers=1))
    assert all(torch.equal(resumed[it]["src"][0], direct[it][0]) for it in range(6, 9))


def test_rank_shards_make_up_the_global_batch(proxy_config):
    s = _stream(proxy_config)
    x, y = s.batch(5)
    parts = [s.batch(5, rank, 2) for rank in range(2)]
    assert torch.equal(torch.cat([p[0] for p in parts]), x) and torch.equal(torch.cat([p[1] for p in parts]), y)


def test_h5_rows_cut_padded_planes_and_survive_fork(tmp_path):
    import h5py

    from adaseg.io import write_ids

    path = tmp_path / "planes.h5"
    with h5py.File(path, "w") as h5:
        write_ids(h5, ["a", "b"])
        h5["masks"] = np.arange(2 * 4 * 5, dtype=np.uint8).reshape(2, 4, 5)
        h5["sizes"] = np.array([[4, 5], [3, 2]])
    rows = H5Rows(str(path), "masks", ["a", "b"])
    assert rows("b").shape == (3, 2) and rows("b")[2, 1] == 20 + 2 * 5 + 1
    assert rows("a").shape == (4, 5)
    with pytest.raises(ValueError, match="no rows for images"):
        H5Rows(str(path), "masks", ["c"])
