"""adaseg.select.selection_list: pixel budgets and the images taken by score or in pick order."""
from pathlib import Path

import numpy as np
import pytest

from adaseg.select.selection_list import (budget_pixels, images_needed, make_selection, take_images_by_score,
                                          take_images_in_order)


def test_mada_selection_takes_farthest_within_pixel_budget():
    ids = ["a", "b", "c"]
    scores = np.array([0.0, 1.0, 1.5])
    px = np.array([100, 100, 100])
    # budget = 1/3 of 300 px = 100 px -> only the farthest image, c
    assert take_images_by_score(ids, scores, px, 1 / 3) == [2]
    # budget 150 px -> c (100 px, still under) then b (200 px): exceeds by less than one image
    chosen = take_images_by_score(ids, scores, px, 0.5)
    assert chosen == [2, 1]
    sel = make_selection("mada", ids, scores, px, chosen, 0.5, seed=0)
    assert sel["budget_pixels"] == 150 and sel["pixels_labelled"] == 200
    assert [s["id"] for s in sel["selected"]] == ["c", "b"]
    assert sel["pixels_labelled"] - sel["budget_pixels"] < 100


def test_budget_five_percent_of_cityscapes():
    # 5% of 2,975 equally sized images: 148.75 images -> 149 (the 149th crosses the budget)
    px = np.full(2975, 2048 * 1024)
    chosen = take_images_by_score([str(i) for i in range(2975)], np.arange(2975.0), px, 0.05)
    assert len(chosen) == 149
    assert budget_pixels(0.05, int(px.sum())) == round(0.05 * 2975 * 2048 * 1024)
    with pytest.raises(ValueError):
        budget_pixels(1.5, 100)


def test_order_based_budget():
    px = np.array([100, 50, 100, 100])
    # 25% of 350 = 87.5 -> 88 px: in pick order 1 (50 px), then 2 (150 px) crosses it
    assert take_images_in_order([1, 2, 0], px, 0.25) == [1, 2]
    assert images_needed(px, 0.25) == 2


def test_mask_file_follows_the_selection_list_when_its_folder_moves(tmp_path, monkeypatch):
    """A region selection names its masks relative to its own folder: read from another working
    folder, or after the results folder moved, it resolves to the masks beside it (it once resolved
    against the working folder, where another run's masks were read with exit 0)."""
    import shutil

    from adaseg.io import read_json
    from adaseg.select.selection_list import read_selection, write_selection

    run = tmp_path / "results" / "select" / "round1of1"
    run.mkdir(parents=True)
    (run / "masks.h5").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    write_selection(run / "selection.json", {"strategy": "ripu_ra", "selected": [], "budget_pixels": 1,
                                             "mask_file": "results/select/round1of1/masks.h5"})
    assert read_json(run / "selection.json")["mask_file"] == "masks.h5"
    moved = tmp_path / "elsewhere" / "results"
    shutil.move(tmp_path / "results", moved)
    monkeypatch.chdir(tmp_path / "elsewhere")
    sel = read_selection(moved / "select" / "round1of1" / "selection.json")
    assert Path(sel["mask_file"]).resolve() == (moved / "select" / "round1of1" / "masks.h5").resolve()
    # a list written before the change (mask_file relative to the writer's working folder, no marker)
    import json

    old = json.loads((moved / "select" / "round1of1" / "selection.json").read_text())
    old.pop("mask_file_relative_to")
    old["mask_file"] = "results/select/round1of1/masks.h5"
    (moved / "select" / "round1of1" / "selection.json").write_text(json.dumps(old))
    sel = read_selection(moved / "select" / "round1of1" / "selection.json")
    assert Path(sel["mask_file"]).resolve() == (moved / "select" / "round1of1" / "masks.h5").resolve()
