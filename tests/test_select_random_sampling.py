"""adaseg.select.random_sampling: random selection is seeded, uniform sampling."""
import numpy as np


def test_random_is_seeded_uniform_sampling():
    from adaseg.select.random_sampling import random_scores
    from adaseg.select.selection_list import take_images_by_score

    a, b = random_scores(1000, seed=3), random_scores(1000, seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, random_scores(1000, seed=4))
    # uniform: each decile of [0, 1) holds about a tenth of the scores
    assert np.all(np.abs(np.histogram(a, bins=10, range=(0, 1))[0] - 100) < 40)
    chosen = take_images_by_score([str(i) for i in range(1000)], a, np.ones(1000, int), 0.05)
    assert len(set(chosen)) == 50 and sorted(a[chosen])[0] >= np.sort(a)[-50]
