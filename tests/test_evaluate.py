"""adaseg.evaluate: confusion matrix, IoU and SYNTHIA's mIoU*, by hand; pixels counted at the label resolution."""
import numpy as np
import pytest
import torch

from adaseg.evaluate import confusion_matrix, iou_from_confusion, summarize
from adaseg.models import build_model


def test_confusion_and_iou_by_hand():
    conf = confusion_matrix(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 255]), 2)
    # rows = ground truth: GT 0 -> pred 0; GT 1 -> pred 0 and pred 1; the 255 pixel is skipped
    assert conf.tolist() == [[1, 0], [1, 1]]
    # class 0: TP 1, FP 1, FN 0 -> 1/2; class 1: TP 1, FP 0, FN 1 -> 1/2
    np.testing.assert_allclose(iou_from_confusion(conf), [0.5, 0.5])


def test_synthia_miou13_drops_wall_fence_pole():
    conf = np.eye(16, dtype=np.int64)
    conf[3, 3] = conf[4, 4] = conf[5, 5] = 0
    conf[3, 0] = conf[4, 0] = conf[5, 0] = 1  # wall, fence, pole all wrong
    res = summarize(conf, "synthia16")
    assert res["iou"]["wall"] == 0 and res["iou"]["road"] == 25.0
    # 13 kept classes: road 1/4, the other 12 perfect
    assert res["miou13"] == pytest.approx((0.25 + 12) / 13 * 100, abs=1e-3)


def test_evaluation_counts_pixels_at_the_label_resolution(proxy_config, tmp_path):
    """The network reads 16x32 images (resize), the confusion matrix counts every 32x64 label pixel."""
    from adaseg.evaluate import evaluate
    from adaseg.io import save_torch
    from adaseg.train.common import checkpoint_meta

    cfg = {"device": "cpu", "datasets": dict(proxy_config["datasets"]), "evaluation": {"split": "val", "resolution": "native",
                                                                                 "flip": True},
           "features": {"batch_size": 2}, "train": {"precision": "fp32"},
           "model": {"backbone": "resnet18", "output_stride": 16, "aspp_channels": 8, "decoder_channels": 8}}
    cfg["datasets"]["cityscapes"] = dict(cfg["datasets"]["cityscapes"], resize=[16, 32])
    torch.manual_seed(0)
    ck = tmp_path / "model.pt"
    save_torch(ck, {"model": build_model(cfg["model"], 19).state_dict(),
                    "meta": checkpoint_meta(cfg, 19, "cityscapes19", stage="test")})
    res = evaluate(cfg, str(ck), "cityscapes", str(tmp_path / "eval.json"), threads=1)
    assert res["pixels"] == 3 * 32 * 64 and res["images"] == 3
    assert "each label file's own resolution" in res["protocol"] and "flip" in res["protocol"]
    cfg["evaluation"]["resolution"] = [8, 16]
    assert evaluate(cfg, str(ck), "cityscapes", str(tmp_path / "e2.json"), threads=1)["pixels"] == 3 * 8 * 16
