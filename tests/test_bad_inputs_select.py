"""Bad inputs of the selection runners (src/adaseg/select/): each is refused with the adaseg.errors type
of its kind, as one line that names the file or config key at fault (the CLI prints it and exits 2)."""
import copy

import h5py
import numpy as np
import pytest
import torch

from adaseg.errors import BudgetError, InputFileError
from test_select_d2ada import D2ADA_CFG, write_d2ada_inputs

# the proxy_datasets fixture: 6 Cityscapes training images of 32x64 = 2,048 px (a pool of 12,288 px)
AREA, N_IMG = 32 * 64, 6


def make_checkpoint(folder) -> str:
    """A small untrained segmentation model checkpoint (19 classes) the region runner can load."""
    from adaseg.io import save_torch
    from adaseg.models.deeplab import build_model
    from adaseg.train.common import checkpoint_meta

    model_cfg = {"backbone": "resnet18", "output_stride": 16, "aspp_channels": 8, "decoder_channels": 8,
                 "low_level_channels": 8}
    torch.manual_seed(0)
    path = folder / "model.pt"
    save_torch(path, {"model": build_model(model_cfg, 19).state_dict(),
                      "meta": checkpoint_meta({"model": model_cfg}, 19, "cityscapes19", stage="test")})
    return str(path)


def make_region_cfg(proxy_config) -> dict:
    """A config for the selection runners on the proxy_datasets fixture."""
    return {"seed": 0, "device": "cpu", "datasets": copy.deepcopy(proxy_config["datasets"]),
            "features": {"batch_size": 8}, "train": {"precision": "fp32"},
            "ripu": {"k_ra": 1, "k_pa": 1, "pa_pixels_per_image": 4, "criterion": "both"},
            "mcu": {"gamma": 0.5, "low_quantile": 0.5, "decay": 0.9, "adaptive_sampling": True},
            "mada": {"source_anchors": 3, "target_anchors": 3}}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("select_ckpt"))


@pytest.fixture
def region_cfg(proxy_config):
    return make_region_cfg(proxy_config)


def write_masks(path, ids, fill_fraction: float = 0.0, size=(32, 64)):
    """A masks file of the images `ids` labelling the first `fill_fraction` of each image's rows."""
    from adaseg.io import create_planes, write_ids, write_plane

    with h5py.File(path, "w") as h5:
        write_ids(h5, ids)
        masks = create_planes(h5, "masks", [size] * len(ids), "u1")
        m = np.zeros(size, np.uint8)
        m[:int(round(fill_fraction * size[0]))] = 1
        for i in range(len(ids)):
            write_plane(masks, i, m)
    return str(path)


def proxy_ids(cfg):
    from adaseg.data.datasets import open_dataset
    return open_dataset(cfg, "cityscapes", "train", with_labels=False).ids


def _region(cfg, checkpoint, tmp_path, strategy="mcu", budget=5.0, previous=None, rounds=(1, 1)):
    from adaseg.select.region_run import run_region_selection
    return run_region_selection(cfg, strategy=strategy, checkpoint=checkpoint, target="cityscapes",
                                budget_percent=budget, out=tmp_path / "selection.json", masks_out=tmp_path / "masks_out.h5",
                                previous_masks=previous, threads=1, schedule_round=rounds)


def _d2ada(tmp_path, paths, budget=25.0, previous=True, round_k=2, strategy="d2ada", superpixels=None):
    from adaseg.select.d2ada import run_d2ada
    return run_d2ada(D2ADA_CFG, strategy=strategy, target_regions=str(paths["target"]),
                     superpixels=str(superpixels or paths["superpixels"]), round_k=round_k, budget_percent=budget,
                     out=tmp_path / "sel.json", masks_out=tmp_path / "m_out.h5", gmm_out=tmp_path / "gmm.npz",
                     source_regions=str(paths["source"]), previous_masks=str(paths["masks"]) if previous else None)


def _image(cfg, tmp_path, budget, strategy="random", target_features=None):
    from adaseg.select.run import run_selection
    return run_selection(cfg, strategy=strategy, target="cityscapes", budget_percent=budget,
                         out=tmp_path / "selection.json", target_features=target_features)


# --- the cases: each returns (a callable that must raise, the exception type, what the message names) ---

def pa_pixels_over_the_image(cfg, ck, tmp):
    cfg["ripu"]["pa_pixels_per_image"] = 2_000_000
    return lambda: _region(cfg, ck, tmp, "ripu_pa"), BudgetError, ["ripu.pa_pixels_per_image", "2,000,000", "2,048"]


def region_round_more_than_left(cfg, ck, tmp):
    prev = write_masks(tmp / "prev.h5", proxy_ids(cfg), 0.5)         # half of every image labelled
    return (lambda: _region(cfg, ck, tmp, "mcu", 60.0, prev, (1, 1)), BudgetError,
            ["mcu round 1 of 1", "7,374", "6,144", "prev.h5", "multi_round.rounds"])


def region_chain_over_the_pool(cfg, ck, tmp):
    return lambda: _region(cfg, ck, tmp, "mcu", 60.0, None, (1, 2)), BudgetError, ["120%", "multi_round.rounds"]


def d2ada_round_more_than_left(cfg, ck, tmp):
    # 12 regions of 16 px in 3 images (192 px), 11 labelled: 16 px left; 20% = 38 px
    paths, _ = write_d2ada_inputs(tmp, labelled_segments=[(i, s) for i in range(3) for s in range(4)][:11])
    return lambda: _d2ada(tmp, paths, 20.0), BudgetError, ["d2ada round 2", "38 px", "16 of the 192 px", "masks.h5"]


def image_budget_selects_nothing(cfg, ck, tmp):
    return lambda: _image(cfg, tmp, 1e-6), BudgetError, ["selection.json", "1e-06%", "12,288", "0.00814"]


def mcu_budget_selects_nothing(cfg, ck, tmp):
    return lambda: _region(cfg, ck, tmp, "mcu", 0.01), BudgetError, ["selection.json", "0.01%", "0.0489"]


def ra_budget_below_one_square(cfg, ck, tmp):
    # 0.1% of 2,048 px = 2 px, less than even a corner square (4 px); one 3x3 square is 0.44%
    return lambda: _region(cfg, ck, tmp, "ripu_ra", 0.1), BudgetError, ["selection.json", "9 px", "0.44%"]


def pa_round_share_zero(cfg, ck, tmp):
    cfg["ripu"]["pa_pixels_per_image"] = 1
    return (lambda: _region(cfg, ck, tmp, "ripu_pa", 5.0, None, (1, 2)), BudgetError,
            ["selection.json", "ripu.pa_pixels_per_image", "at least 2"])


def d2ada_budget_below_a_superpixel(cfg, ck, tmp):
    paths, _ = write_d2ada_inputs(tmp)          # 16 px superpixels in a 192 px pool: 5% = 10 px
    return lambda: _d2ada(tmp, paths, 5.0), BudgetError, ["sel.json", "10 px", "16 px", "8.34%"]


def image_budget_over_the_pool(cfg, ck, tmp):
    return lambda: _image(cfg, tmp, 150.0), BudgetError, ["selection.json", "150%", "mada.budget"]


def image_budget_zero(cfg, ck, tmp):
    return lambda: _image(cfg, tmp, 0.0), BudgetError, ["selection.json", "0%", "<budget>"]


def region_budget_over_the_image(cfg, ck, tmp):
    return lambda: _region(cfg, ck, tmp, "ripu_ra", 150.0), BudgetError, ["ripu_ra", "150%", "--budget"]


def d2ada_budget_over_the_pool(cfg, ck, tmp):
    paths, _ = write_d2ada_inputs(tmp)
    return lambda: _d2ada(tmp, paths, 101.0), BudgetError, ["d2ada round 2", "101%", "--budget"]


def region_foreign_masks(cfg, ck, tmp):
    prev = write_masks(tmp / "other.h5", [f"x{i}" for i in range(N_IMG)])
    return (lambda: _region(cfg, ck, tmp, "ripu_ra", 5.0, prev, (2, 3))), InputFileError, \
        ["other.h5", "foreign masks", "round1of3/masks.h5"]


def region_masks_of_another_size(cfg, ck, tmp):
    prev = write_masks(tmp / "small.h5", proxy_ids(cfg), 0.0, size=(16, 32))
    return lambda: _region(cfg, ck, tmp, "mcu", 5.0, prev, (2, 2)), InputFileError, ["small.h5", "16x32", "32x64"]


def d2ada_foreign_masks(cfg, ck, tmp):
    paths, _ = write_d2ada_inputs(tmp)
    write_masks(paths["masks"], ["a", "b", "c"], size=(8, 8))
    return lambda: _d2ada(tmp, paths), InputFileError, ["masks.h5", "foreign masks", "round1of<R>"]


def d2ada_superpixels_of_other_images(cfg, ck, tmp):
    paths, _ = write_d2ada_inputs(tmp)
    other = tmp / "other"
    other.mkdir()
    other_paths, _ = write_d2ada_inputs(other, ids=["p", "q", "r"])
    return (lambda: _d2ada(tmp, paths, superpixels=other_paths["superpixels"]), InputFileError,
            ["other/superpixels.h5", "target.h5", "region_features"])


def feature_dump_of_other_images(cfg, ck, tmp):
    from adaseg.io import write_ids
    dump = tmp / "target_features.h5"
    with h5py.File(dump, "w") as h5:
        write_ids(h5, [f"x{i}" for i in range(N_IMG)])
        h5.create_dataset("entropy", data=np.ones((N_IMG, 1), np.float32))
    return (lambda: _image(cfg, tmp, 10.0, "entropy", str(dump)), InputFileError,
            ["target_features.h5", "rule features", "--mode target"])


def feature_dump_without_the_field(cfg, ck, tmp):
    from adaseg.io import write_ids
    dump = tmp / "target_features.h5"
    with h5py.File(dump, "w") as h5:
        write_ids(h5, proxy_ids(cfg))
        h5.create_dataset("margin", data=np.ones((N_IMG, 1), np.float32))
    return lambda: _image(cfg, tmp, 10.0, "entropy", str(dump)), InputFileError, ["target_features.h5", "entropy"]


CASES = [pa_pixels_over_the_image, region_round_more_than_left, region_chain_over_the_pool, d2ada_round_more_than_left,
         image_budget_selects_nothing, mcu_budget_selects_nothing, ra_budget_below_one_square, pa_round_share_zero,
         d2ada_budget_below_a_superpixel, image_budget_over_the_pool, image_budget_zero, region_budget_over_the_image,
         d2ada_budget_over_the_pool, region_foreign_masks, region_masks_of_another_size, d2ada_foreign_masks,
         d2ada_superpixels_of_other_images, feature_dump_of_other_images, feature_dump_without_the_field]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_selection_input_is_one_line_naming_it(case, region_cfg, checkpoint, tmp_path):
    call, kind, names = case(region_cfg, checkpoint, tmp_path)
    with pytest.raises(kind) as e:
        call()
    msg = str(e.value)
    assert "\n" not in msg and msg == msg.strip(), msg
    for name in names:
        assert name in msg, (name, msg)
    for output in ("selection.json", "sel.json", "masks_out.h5", "m_out.h5"):   # nothing half-written
        assert not (tmp_path / output).exists(), output
