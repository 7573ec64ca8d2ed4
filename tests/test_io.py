"""adaseg.io: per-image planes of mixed image sizes (batched by size, padded, read back, also via the cache)."""
import h5py
import numpy as np
import pytest
from PIL import Image

from adaseg.data.cache import write_cache
from adaseg.data.datasets import SegmentationDataset
from adaseg.features import iterate_images
from adaseg.io import create_planes, plane, write_plane


def _mixed_gta5(root):
    """GTA5 layout with images of two sizes (as the real set's 1914x1052 and 1914x1054)."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for n, h in enumerate([10, 10, 12, 10, 12]):
        Image.fromarray(rng.integers(0, 255, (h, 16, 3), dtype=np.uint8)).save(root / "images" / f"{n:05d}.png")
        Image.fromarray(rng.choice([7, 8, 11, 26], (h, 16)).astype(np.uint8)).save(root / "labels" / f"{n:05d}.png")


def test_mixed_sizes_batch_by_size_and_planes_read_back(tmp_path):
    _mixed_gta5(tmp_path / "gta5")
    ds = SegmentationDataset("gta5", tmp_path / "gta5")
    assert ds.image_sizes() == [(10, 16), (10, 16), (12, 16), (10, 16), (12, 16)]
    with pytest.raises(ValueError, match=r"images under '.*gta5/images' \(split train\) mix sizes 16x10 .*, 16x12 .*: "
                       r"set datasets.gta5.resize: \[H, W\] .* or train.crop"):
        ds.image_size()
    batches = [(idx, tuple(x.shape), tuple(y.shape)) for idx, x, y in iterate_images(ds, 4, True, "test")]
    assert batches == [([0, 1], (2, 3, 10, 16), (2, 10, 16)), ([2], (1, 3, 12, 16), (1, 12, 16)),
                       ([3], (1, 3, 10, 16), (1, 10, 16)), ([4], (1, 3, 12, 16), (1, 12, 16))]
    with h5py.File(tmp_path / "planes.h5", "w") as h5:
        masks = create_planes(h5, "masks", ds.image_sizes(), "u1")
        for i in range(len(ds)):
            write_plane(masks, i, ds.label(i))
    with h5py.File(tmp_path / "planes.h5") as h5:
        assert h5["masks"].shape == (5, 12, 16)
        for i in range(len(ds)):
            assert np.array_equal(plane(h5["masks"], i), ds.label(i))
    # the cache pads the same way and gives back each image at its own size
    write_cache(ds, tmp_path / "c.h5")
    dc = SegmentationDataset("gta5", tmp_path / "gta5", cache=tmp_path / "c.h5")
    for i in range(len(ds)):
        assert np.array_equal(dc.image(i), ds.image(i)) and np.array_equal(dc.label(i), ds.label(i))


def test_feature_dumps_with_non_finite_rows_are_refused(tmp_path):
    """A feature dump of a diverged model (NaN rows) made MADA pick the first ids in order, exit 0:
    refused, naming the file and the image."""
    from adaseg.errors import InputFileError
    from adaseg.io import read_features, write_ids

    path = tmp_path / "target.h5"
    feats = np.zeros((3, 2, 4), np.float32)
    feats[1, 0, 2] = np.nan
    with h5py.File(path, "w") as h5:
        write_ids(h5, ["a", "b", "c"])
        h5["features"] = feats
    with pytest.raises(InputFileError, match=r"target\.h5.*image 'b'.*NaN"):
        read_features(path)
    feats[1, 0, 2] = 0.5
    with h5py.File(path, "a") as h5:
        h5["features"][...] = feats
    ids, rows = read_features(path)
    assert ids == ["a", "b", "c"] and rows.shape == (3, 8)
