"""adaseg.data.superpixels: SLIC superpixels (scikit-image) cover the image and follow its edges."""
import numpy as np

from adaseg.data.superpixels import superpixels


def test_slic_superpixels_cover_the_image():
    rng = np.random.default_rng(0)
    img = np.zeros((32, 64, 3), np.uint8)
    img[:, 32:] = 200
    img = (img + rng.integers(0, 10, img.shape)).astype(np.uint8)
    seg = superpixels(img, 8, 10)
    assert seg.shape == (32, 64) and seg.min() == 0 and 4 <= seg.max() + 1 <= 16
    # no superpixel straddles the sharp vertical edge
    assert not set(np.unique(seg[:, :32])) & set(np.unique(seg[:, 32:]))
