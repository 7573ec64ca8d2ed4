"""The input pipeline (adaseg.data.loader), precision switch, label-resolution evaluation and GPU
slots: batches do not depend on which process computes them."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from adaseg.data.datasets import open_dataset
from adaseg.data.loader import BatchStream, H5Rows, shard, step_loader
from adaseg.data.synth import generate
from adaseg.models import build_model

from conftest import cli_env


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    root = tmp_path_factory.mktemp("proxy")
    counts = {"gta5": 12, "cityscapes_train": 6, "cityscapes_val": 3}
    generate(root / "gta5", "gta5", 0, 32, 64, counts)
    generate(root / "cityscapes", "cityscapes", 0, 32, 64, counts)
    cfg = {"datasets": {"gta5": {"kind": "gta5", "root": str(root / "gta5")},
                        "cityscapes": {"kind": "cityscapes", "root": str(root / "cityscapes")}}}
    return cfg


def _stream(cfg, bs=4):
    ds = open_dataset(cfg, "gta5")
    return BatchStream(ds, range(len(ds)), bs, 7, 3, crop=(24, 48), scale_range=(0.7, 1.3))


def test_shard_splits_the_global_batch():
    assert [list(shard(5, r, 2)) for r in range(2)] == [[0, 1], [2, 3, 4]]
    assert [list(shard(4, r, 4)) for r in range(4)] == [[0], [1], [2], [3]]
    with pytest.raises(ValueError, match="cannot be split"):
        shard(1, 0, 2)


def test_worker_batches_equal_in_process_batches(proxy):
    s = _stream(proxy)
    direct = {it: s.batch(it) for it in range(3, 9)}  # crosses an epoch boundary (12 images, batch 4)
    got = dict(step_loader({"src": s}, 3, 9, workers=2, prefetch=2))
    assert sorted(got) == list(range(3, 9))
    for it, (x, y) in direct.items():
        assert torch.equal(got[it]["src"][0], x) and torch.equal(got[it]["src"][1], y)
    # a resumed run (start 6) sees the same batches as an uninterrupted one
    resumed = dict(step_loader({"src": s}, 6, 9, workers=1))
    assert all(torch.equal(resumed[it]["src"][0], direct[it][0]) for it in range(6, 9))


def test_rank_shards_make_up_the_global_batch(proxy):
    s = _stream(proxy)
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


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_forward_returns_fp32(precision):
    torch.manual_seed(0)
    cfg = {"backbone": "resnet18", "output_stride": 16, "aspp_channels": 8, "decoder_channels": 8}
    model = build_model(cfg, 19).eval()
    x = torch.randn(1, 3, 32, 64)
    ref = model(x)["logits"]
    out = model.set_precision(precision)(x, with_aux=True)
    assert all(v.dtype == torch.float32 for v in out.values())
    # same network, lower precision: close to fp32, not equal
    assert (out["logits"] - ref).abs().max() < 0.1 * ref.abs().max()
    with pytest.raises(ValueError, match="unknown precision"):
        model.set_precision("int8")


def test_evaluation_counts_pixels_at_the_label_resolution(proxy, tmp_path):
    """The network reads 16x32 images (resize), the confusion matrix counts every 32x64 label pixel."""
    from adaseg.evaluate import evaluate
    from adaseg.io import save_torch
    from adaseg.train.common import checkpoint_meta

    cfg = {"device": "cpu", "datasets": dict(proxy["datasets"]), "evaluation": {"split": "val", "resolution": "native",
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


def _slot_job(tmp_path, n, lock_dir):
    code = ("import os, time; print(os.environ.get('CUDA_VISIBLE_DEVICES'), time.time(), flush=True); "
            "time.sleep(0.6); print(time.time())")
    env = dict(cli_env(), ADASEG_GPUS="0,1")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return subprocess.Popen([sys.executable, "-m", "adaseg.gpu_slots", "--gpus", str(n), "--lock-dir", str(lock_dir),
                             "--", sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


def test_gpu_slots_give_each_job_its_own_gpus(tmp_path):
    jobs = [_slot_job(tmp_path, 1, tmp_path / "locks") for _ in range(3)] + [_slot_job(tmp_path, 2, tmp_path / "locks")]
    runs = []
    for p in jobs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        first, end = out.split("\n")[:2]
        gpus, start = first.split()
        runs.append((set(gpus.split(",")), float(start), float(end)))
    assert sorted(len(g) for g, _, _ in runs) == [1, 1, 1, 2]
    for i, (g1, s1, e1) in enumerate(runs):  # jobs that overlap in time never share a GPU
        for g2, s2, e2 in runs[i + 1:]:
            if s1 < e2 and s2 < e1:
                assert not g1 & g2
    # a scheduler's choice is kept; zero GPUs run the command unchanged
    env = dict(cli_env(), ADASEG_GPUS="0,1", CUDA_VISIBLE_DEVICES="5")
    out = subprocess.run([sys.executable, "-m", "adaseg.gpu_slots", "--gpus", "1", "--lock-dir", str(tmp_path),
                          "--", sys.executable, "-c", "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "5"
    bad = subprocess.run([sys.executable, "-m", "adaseg.gpu_slots", "--gpus", "3", "--lock-dir", str(tmp_path),
                          "--", "true"], env=dict(cli_env(), ADASEG_GPUS="0,1"), capture_output=True, text=True)
    assert bad.returncode != 0 and "needs 3 GPUs but this machine has 2" in bad.stderr
