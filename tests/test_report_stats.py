"""adaseg.report.stats: mean and sample std over seeds, and the paired-t interval, against hand-computed cases."""
import math

import pytest

from adaseg.report.stats import paired_difference, summarize


def test_summary_is_the_mean_and_the_sample_std():
    s = summarize([30.0, 31.0, 35.0])
    assert s.mean == pytest.approx(32.0) and s.std == pytest.approx(math.sqrt(7.0)) and s.n == 3
    one = summarize([7.5])
    assert one.mean == 7.5 and one.std is None and one.n == 1


def test_paired_interval_by_hand():
    # d = 3, 4, 5: mean 4, sd 1, t(0.975, 2) = 4.302653: 4 +- 4.302653 / sqrt(3) = 4 +- 2.484138
    d = paired_difference({0: 33.0, 1: 35.0, 2: 37.0}, {0: 30.0, 1: 31.0, 2: 32.0})
    assert (d.mean, d.n) == (4.0, 3)
    assert d.low == pytest.approx(1.515862, abs=1e-6) and d.high == pytest.approx(6.484138, abs=1e-6)
    assert d.significant is True
    # d = 1, -1, 3: mean 1, sd 2: 1 +- 4.968275 contains 0
    d = paired_difference({0: 31.0, 1: 30.0, 2: 35.0}, {0: 30.0, 1: 31.0, 2: 32.0})
    assert d.low == pytest.approx(-3.968275, abs=1e-6) and d.significant is False
    # two pairs: t(0.975, 1) = 12.706205; d = 2, 4: 3 +- 12.706205 * sqrt(2) / sqrt(2)
    d = paired_difference({0: 2.0, 1: 4.0}, {0: 0.0, 1: 0.0})
    assert d.high - d.mean == pytest.approx(12.706205, abs=1e-6)


def test_pairs_are_matched_by_seed():
    d = paired_difference({0: 10.0, 1: 20.0, 5: 99.0}, {1: 18.0, 0: 9.0, 7: 0.0})
    assert d.n == 2 and d.mean == pytest.approx(1.5)
    one = paired_difference({0: 10.0}, {0: 8.0})
    assert one.mean == 2.0 and one.low is None and one.significant is None
    assert paired_difference({0: 1.0}, {1: 1.0}) is None
