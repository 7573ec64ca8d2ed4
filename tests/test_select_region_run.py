"""adaseg.select.region_run: per-image budgets over the rounds of a chain, with the model in the loop."""
import copy
import logging

import h5py
import pytest
import numpy as np

from conftest import AREA, N_IMG, proxy_ids, run_region, write_masks


def _masks(path):
    with h5py.File(path) as h5:
        return h5["masks"][:].astype(bool)


def test_a_chain_of_rounds_meets_every_budget(region_cfg, checkpoint, tmp_path, caplog):
    """10% over 2 rounds (5% each, as in tests/tiny.yaml): both rounds label exactly their budget, the
    second never a pixel of the first, and nothing is refused or warned about."""
    caplog.set_level(logging.WARNING)
    prev = None
    for r in (1, 2):
        d = tmp_path / f"r{r}"
        sel = run_region(region_cfg, checkpoint, d, "mcu", 5.0, prev, (r, 2))
        assert sel["pixels_labelled"] == sel["budget_pixels"] == N_IMG * round(0.05 * AREA)
        prev = str(d / "masks_out.h5")
    assert _masks(prev).sum() == 2 * N_IMG * round(0.05 * AREA)
    assert not caplog.records


def test_a_whole_pool_chain_is_not_refused_for_rounding(region_cfg, checkpoint, tmp_path, caplog):
    """100% over 3 rounds: 33.3333% of 2,048 px rounds to 683 px per image and round, 2,049 in all; the
    third round (682 px left per image) is within the rounding allowance, labels the rest and warns."""
    caplog.set_level(logging.WARNING)
    prev = None
    for r in (1, 2, 3):
        d = tmp_path / f"r{r}"
        sel = run_region(region_cfg, checkpoint, d, "mcu", 33.3333, prev, (r, 3))
        prev = str(d / "masks_out.h5")
    assert _masks(prev).all()
    assert sel["pixels_labelled"] == N_IMG * 682 < sel["budget_pixels"] == N_IMG * 683
    assert any("mcu round 3 of 3" in rec.getMessage() for rec in caplog.records)


def test_an_image_short_of_free_pixels_gives_what_it_has(region_cfg, checkpoint, tmp_path, caplog):
    """Budgets are per image: an image with fewer free pixels than its budget gives all of them (the
    others are not asked for more); the shortfall is logged with the strategy and the numbers."""
    caplog.set_level(logging.WARNING)
    ids = proxy_ids(region_cfg)
    prev = tmp_path / "prev.h5"
    write_masks(prev, ids)
    with h5py.File(prev, "r+") as h5:
        m = np.ones((32, 64), np.uint8)
        m[0, :10] = 0                                   # image 0: 10 free pixels, its budget 102
        h5["masks"][0] = m
    cfg = copy.deepcopy(region_cfg)
    cfg["mcu"]["quota"] = "per_image"               # the paper's global quota has no per-image budget
    sel = run_region(cfg, checkpoint, tmp_path, "mcu", 5.0, str(prev), (2, 2))
    new = _masks(tmp_path / "masks_out.h5") & ~_masks(prev)
    assert new[0].sum() == 10 and all(new[i].sum() == 102 for i in range(1, N_IMG))
    assert sel["pixels_labelled"] == sel["budget_pixels"] - 92
    text = " ".join(rec.getMessage() for rec in caplog.records)
    assert "mcu round 2 of 2" in text and "1 of 6 images" in text and "92 px short" in text


def test_mcu_global_quota_meets_the_pool_budget_with_shares_that_vary(region_cfg, checkpoint, tmp_path):
    """mcu.quota: global (ADA-MCU Sec. IV.C): one threshold over the pool, the round's total met
    exactly, the images' shares unequal; per_image gives every image the same share."""
    sel = run_region(region_cfg, checkpoint, tmp_path / "g", "mcu", 5.0, None, (1, 1))
    shares = _masks(tmp_path / "g" / "masks_out.h5").reshape(N_IMG, -1).sum(1)
    assert sel["pixels_labelled"] == sel["budget_pixels"] == shares.sum()
    assert len(set(shares.tolist())) > 1
    cfg = copy.deepcopy(region_cfg)
    cfg["mcu"]["quota"] = "per_image"
    run_region(cfg, checkpoint, tmp_path / "p", "mcu", 5.0, None, (1, 1))
    assert len(set(_masks(tmp_path / "p" / "masks_out.h5").reshape(N_IMG, -1).sum(1).tolist())) == 1


def test_ripu_pa_rounds_never_overlap_through_the_runner(region_cfg, checkpoint, tmp_path):
    """Round 2 of a RIPU PA chain reads round 1's masks: no new pixel within 2k of a round-1 pixel."""
    from adaseg.select.ripu import blocked_by_earlier_rounds

    r1 = run_region(region_cfg, checkpoint, tmp_path / "r1", "ripu_pa", 5.0, None, (1, 2))
    first = _masks(tmp_path / "r1" / "masks_out.h5")
    r2 = run_region(region_cfg, checkpoint, tmp_path / "r2", "ripu_pa", 5.0, str(tmp_path / "r1" / "masks_out.h5"), (2, 2))
    new = _masks(tmp_path / "r2" / "masks_out.h5") & ~first
    assert r1["pixels_labelled"] == r2["pixels_labelled"] == new.sum() == N_IMG * 2   # 4 px per image over 2 rounds
    k = region_cfg["ripu"]["k_pa"]
    for i in range(N_IMG):
        assert not (new[i] & blocked_by_earlier_rounds(first[i], k, "PA")).any()


def test_oracles_and_random_units_through_the_runner(region_cfg, checkpoint, tmp_path):
    """Random squares and the square oracle take the same unit (RIPU RA's squares, count and
    blocking) at the same budget, in other places; an oracle refuses a pool without label files."""
    from adaseg.errors import InputFileError

    rnd = run_region(region_cfg, checkpoint, tmp_path / "r", "random_squares", 5.0)
    orc = run_region(region_cfg, checkpoint, tmp_path / "o", "oracle_squares", 5.0)
    bal = run_region(region_cfg, checkpoint, tmp_path / "b", "oracle_squares_balanced", 5.0)
    assert rnd["budget_pixels"] == orc["budget_pixels"] == bal["budget_pixels"]
    assert [e["picks"] for e in rnd["selected"]] == [e["picks"] for e in orc["selected"]]   # squares per image
    assert not (_masks(tmp_path / "r" / "masks_out.h5") == _masks(tmp_path / "o" / "masks_out.h5")).all()
    px = run_region(region_cfg, checkpoint, tmp_path / "p", "random_pixels", 5.0)
    assert px["pixels_labelled"] == px["budget_pixels"]
    cfg = copy.deepcopy(region_cfg)
    cfg["datasets"]["cityscapes"]["labels"] = "none"
    with pytest.raises(InputFileError, match="oracle_squares is an oracle.*labels: none"):
        run_region(cfg, checkpoint, tmp_path / "n", "oracle_squares", 5.0)
