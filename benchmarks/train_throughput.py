"""Training-step throughput: (a) the model alone and (b) the whole step reading real-size PNGs from disk.

CPU check (about a minute on 2 busy cores, most of it bf16, which a CPU without bf16 instructions
emulates, and writing the PNGs; writes benchmarks/results/train_throughput_cpu.json):

    python benchmarks/train_throughput.py --backbone resnet18 --width 16 --crop 64 128 --resize 256 448 \\
        --batch 2 --steps 2 --warmup 1 --workers 1 --images 4 --threads 1

GPU, paper scale (configs/paper_gta5.yaml: GTA5 resized to 720x1280, random scale 0.5-1.5, crop 896x512;
writes benchmarks/results/train_throughput_<gpu>.json):

    python benchmarks/train_throughput.py --paper --backbone resnet101 --width 256 --batch 2 --workers 8 \\
        --steps 100 --warmup 10

For each precision of `--precisions` (the model's own switch, `set_precision`: autocast, fp32 outputs)
the script builds DeepLabV3+ through `adaseg.runtime.Runtime` (channels_last and
cudnn.benchmark on CUDA) and times `--steps` fine-tuning steps after `--warmup` untimed ones: CE of
the main and the auxiliary head (`seg_ce`, train.aux_weight) and SGD (momentum, weight decay,
10x head learning rate of the paper config) on a batch of `--batch` GTA5 crops,

  (a) model_only: one batch of random tensors already on the device, reused;
  (b) whole_step: batches from `BatchStream` + `step_loader` (DataLoader workers, pinned memory on
      CUDA, prefetch) over GTA5-layout PNGs of the real sizes (1914x1052 and 1914x1054), decoded
      by `SegmentationDataset` (OpenCV, resized to `--resize` once per read), randomly rescaled,
      cropped and flipped in the workers, and copied to the device with non_blocking.

The PNGs come from `adaseg.data.synth.generate_real_size`, in a temporary folder removed at the
end, or in `--data` (kept, and reused when it already holds them). `--adaptseg` times the AdaptSeg
warm-up step instead (source and target pass, OutputSpaceDiscriminator; the target stream reads
Cityscapes-layout 2048x1024 PNGs resized to `--target-resize`).

Reported per precision and mode: seconds/step, images/s (source images), TFLOP per image (matmuls
and convolutions of one step, counted with torch.utils.flop_counter.FlopCounterMode), achieved
TFLOP/s and its fraction of the device's dense peak (PEAK_TFLOPS by device name, or
`--peak-tflops`; null when unknown, as on a CPU), the time a step waits for its batch; for (b) the
ratio whole-step / model-only step time (GPU target: at most 1.10), and the bf16 / fp32 images/s
ratio. `--steps` should be well above workers x prefetch, the batches the loader can have ready
before the timed steps start.
"""
from __future__ import annotations

import argparse
import itertools
import json
import platform
import re
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from adaseg.config import load_config
from adaseg.data.datasets import SegmentationDataset
from adaseg.data.loader import BatchStream, step_loader
from adaseg.data.synth import generate_real_size
from adaseg.models import DeepLabV3Plus, OutputSpaceDiscriminator, upsample
from adaseg.models.deeplab import PRECISIONS
from adaseg.runtime import Runtime, setup_runtime
from adaseg.train.common import descend, make_sgd, seg_ce
from adaseg.train.warmup import SOURCE_LABEL, TARGET_LABEL, NoLabels

ROOT = Path(__file__).resolve().parents[1]
PAPER_CONFIG = ROOT / "configs" / "paper_gta5.yaml"
NUM_CLASSES = 19
# Sizes without --paper (a model and crops small enough for a CPU); --paper takes them from the config.
QUICK = dict(backbone="resnet18", width=16, crop=[64, 128], resize=[256, 448], target_resize=[128, 256],
             scale_range=[0.5, 1.5], batch=2)
# Dense peak TFLOP/s by device name (first match): bf16/fp16 on tensor cores, fp32 without them.
# PyTorch lets cuDNN run fp32 convolutions as TF32 by default (recorded as cudnn_allow_tf32), so an
# fp32 fraction can pass 1.
PEAK_TFLOPS = (
    ("H200", {"bf16": 989.0, "fp32": 67.0}),
    ("H100 PCIe", {"bf16": 756.0, "fp32": 51.0}),
    ("H100 NVL", {"bf16": 835.0, "fp32": 60.0}),
    ("H100", {"bf16": 989.0, "fp32": 67.0}),  # SXM ("NVIDIA H100 80GB HBM3")
    ("A100", {"bf16": 312.0, "fp32": 19.5}),
)


def paper_sizes(cfg: dict) -> dict:
    return dict(backbone=cfg["model"]["backbone"], width=cfg["model"]["aspp_channels"], crop=cfg["train"]["crop"],
                resize=cfg["datasets"]["gta5"]["resize"], target_resize=cfg["datasets"]["cityscapes"]["resize"],
                scale_range=cfg["train"]["scale_range"], batch=cfg["finetune"]["batch_size"])


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
              if line.startswith("model name")] if cpuinfo.is_file() else []
    return models[0] if models else platform.processor() or platform.machine()


def device_kind(device: torch.device) -> str:
    """'cpu', or the GPU's name as a file-name part ('NVIDIA H100 80GB HBM3' -> 'h100_80gb_hbm3')."""
    if device.type != "cuda":
        return "cpu"
    name = re.sub(r"^nvidia\s+", "", device_name(device).lower())
    return re.sub(r"[^a-z0-9]+", "_", name).strip("_")


def peak_tflops(device: torch.device, precision: str, override: dict) -> float | None:
    key = "fp32" if precision == "fp32" else "bf16"  # fp16 tensor-core peak = bf16's
    if precision in override or "all" in override:
        return override.get(precision, override.get("all"))
    if device.type == "cuda":
        name = device_name(device)
        for part, peaks in PEAK_TFLOPS:
            if part in name:
                return peaks[key]
    return None


def parse_peaks(items: list[str] | None) -> dict:
    """['989'] -> {'all': 989.0}; ['bf16=989', 'fp32=67'] -> per precision."""
    out = {}
    for item in items or []:
        prec, _, value = item.rpartition("=")
        out[prec or "all"] = float(value)
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def supervised_step(model, opt, scaler, aux_w: float):
    def step(b: dict) -> None:
        x, y = b["source"]
        descend(seg_ce(model(x, with_aux=aux_w > 0), y, aux_w), opt, scaler)
    return step


def adaptseg_step(model, opt, scaler, aux_w: float, disc, dopt, adv_weight: float):
    """The AdaptSeg warm-up step of adaseg.train.warmup (without the poly schedule)."""
    def step(b: dict) -> None:
        (xs, ys), xt = b["source"], b["target"][0]
        disc.requires_grad_(False)
        os_, ot = model(xs, with_aux=aux_w > 0), model(xt)
        ps, pt = upsample(os_["logits"], ys.shape[-2:]), upsample(ot["logits"], xt.shape[-2:])
        dt = disc(F.softmax(pt, 1))
        adv = F.binary_cross_entropy_with_logits(dt, torch.full_like(dt, SOURCE_LABEL))
        descend(seg_ce(os_, ys, aux_w) + adv_weight * adv, opt, scaler)
        disc.requires_grad_(True)
        ds, dt = disc(F.softmax(ps.detach(), 1)), disc(F.softmax(pt.detach(), 1))
        dloss = 0.5 * (F.binary_cross_entropy_with_logits(ds, torch.full_like(ds, SOURCE_LABEL))
                       + F.binary_cross_entropy_with_logits(dt, torch.full_like(dt, TARGET_LABEL)))
        descend(dloss, dopt, scaler)
    return step


def timed(step, batches, warmup: int, steps: int, device: torch.device) -> tuple[float, float]:
    """(seconds per step, seconds per step spent waiting for the next batch) over `steps` steps
    after `warmup` untimed ones."""
    it = iter(batches)
    for _ in range(warmup):
        step(next(it))
    sync(device)
    wait, t0 = 0.0, time.perf_counter()
    for _ in range(steps):
        t = time.perf_counter()
        b = next(it)
        wait += time.perf_counter() - t
        step(b)
    sync(device)
    return (time.perf_counter() - t0) / steps, wait / steps


def step_flops(step, batch: dict) -> int:
    """Matmul and convolution FLOPs of one training step (forward and backward of every network)."""
    with FlopCounterMode(display=False) as counter:
        step(batch)
    return counter.get_total_flops()


def prepare_data(data: Path, images: int, target: bool) -> None:
    """GTA5 (and, for AdaptSeg, Cityscapes train) PNGs at the real sizes in `data`, unless there."""
    src = not (data / "gta5" / "images").is_dir()
    tgt = target and not (data / "cityscapes" / "leftImg8bit" / "train").is_dir()
    if src or tgt:
        n = images if src else 0
        generate_real_size(data, gta5=n - n // 4, gta5_tall=n // 4, cityscapes_train=images if tgt else 0,
                           cityscapes_val=0, synthia=0)


def sig(x: float) -> float:
    """x to 4 significant digits."""
    return float(f"{x:.4g}")


def rates(seconds: float, wait: float, batch: int, flop_per_image: float, peak: float | None) -> dict:
    tflops = batch * flop_per_image / seconds / 1e12
    return dict(seconds_per_step=sig(seconds), images_per_second=sig(batch / seconds), achieved_tflops=sig(tflops),
                peak_fraction=sig(tflops / peak) if peak else None, wait_seconds_per_step=sig(wait))


def run(a, cfg: dict, sizes: dict, device: torch.device, data: Path) -> dict:
    tcfg, acfg = cfg["train"], cfg["warmup"]["adaptseg"]
    aux_w, batch, crop = float(tcfg["aux_weight"]), sizes["batch"], tuple(sizes["crop"])
    peaks = parse_peaks(a.peak_tflops)
    src = SegmentationDataset("gta5", data / "gta5", "train", resize=sizes["resize"])
    aug = dict(crop=crop, scale_range=sizes["scale_range"], flip=True)
    streams = {"source": BatchStream(src, range(len(src)), batch, 0, 0, **aug)}
    if a.adaptseg:
        tgt = SegmentationDataset("cityscapes", data / "cityscapes", "train", resize=sizes["target_resize"],
                                  with_labels=False)
        streams["target"] = BatchStream(tgt, range(len(tgt)), batch, 0, 1, label_fn=NoLabels(tgt.image_sizes()), **aug)
    out, flop_per_image = {}, None
    for precision in a.precisions:
        rt = Runtime(device=device, precision=precision, channels_last=device.type == "cuda",
                     workers=a.workers, prefetch=a.prefetch)
        torch.manual_seed(0)
        model = rt.prepare(DeepLabV3Plus(NUM_CLASSES, sizes["backbone"], cfg["model"]["output_stride"], sizes["width"],
                                         sizes["width"], cfg["model"]["low_level_channels"]).train())
        opt = make_sgd(model, cfg["finetune"]["stage1"]["lr"], tcfg["head_lr_mult"], tcfg["momentum"],
                       tcfg["weight_decay"])
        scaler = rt.grad_scaler()
        if a.adaptseg:
            disc = rt.prepare(OutputSpaceDiscriminator(NUM_CLASSES, base=acfg["disc_width"],
                                                       kernel_size=acfg["disc_kernel"]).train())
            dopt = torch.optim.Adam(disc.parameters(), lr=acfg["disc_lr"], betas=(0.9, 0.99))
            step = adaptseg_step(model, opt, scaler, aux_w, disc, dopt, float(acfg["adv_weight"]))
        else:
            step = supervised_step(model, opt, scaler, aux_w)
        fixed = {name: (rt.inputs(torch.randn(batch, 3, *crop)), rt.labels(torch.randint(0, NUM_CLASSES, (batch, *crop))))
                 for name in streams}
        if flop_per_image is None:
            flop_per_image = step_flops(step, fixed) / batch
        peak = peak_tflops(device, precision, peaks)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        res = {"model_only": rates(*timed(step, itertools.repeat(fixed), a.warmup, a.steps, device),
                                   batch, flop_per_image, peak)}
        loader = step_loader(streams, 0, a.warmup + a.steps, rt.workers, rt.pin_memory, rt.prefetch)
        batches = ({k: (rt.inputs(x), rt.labels(y)) for k, (x, y) in b.items()} for _, b in loader)
        res["whole_step"] = rates(*timed(step, batches, a.warmup, a.steps, device), batch, flop_per_image, peak)
        res["whole_step"]["whole_over_model"] = sig(res["whole_step"]["seconds_per_step"]
                                                    / res["model_only"]["seconds_per_step"])
        res["peak_tflops"] = peak
        if device.type == "cuda":
            res["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2 ** 30, 2)
        out[precision] = res
        print(precision, json.dumps(res), flush=True)
    summary = dict(tflop_per_image=sig(flop_per_image / 1e12), runs=out)
    if "fp32" in out and "bf16" in out:
        summary["bf16_over_fp32_images_per_second"] = {
            mode: sig(out["bf16"][mode]["images_per_second"] / out["fp32"][mode]["images_per_second"])
            for mode in ("model_only", "whole_step")}
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true",
                    help=f"sizes of {PAPER_CONFIG.relative_to(ROOT)} (backbone, width, crop, resizes, scale range, "
                         f"batch) as the defaults of the options below")
    ap.add_argument("--backbone", help=f"default {QUICK['backbone']}")
    ap.add_argument("--width", type=int, help=f"ASPP/decoder channels (256 in the papers); default {QUICK['width']}")
    ap.add_argument("--crop", type=int, nargs=2, metavar=("H", "W"), help=f"default {QUICK['crop']}")
    ap.add_argument("--resize", type=int, nargs=2, metavar=("H", "W"),
                    help=f"GTA5 images are read at this size; default {QUICK['resize']}")
    ap.add_argument("--target-resize", type=int, nargs=2, metavar=("H", "W"),
                    help=f"Cityscapes size for --adaptseg; default {QUICK['target_resize']}")
    ap.add_argument("--scale-range", type=float, nargs=2, metavar=("LO", "HI"), help=f"default {QUICK['scale_range']}")
    ap.add_argument("--batch", type=int, help=f"source images per step; default {QUICK['batch']}")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=list(PRECISIONS),
                    help="default: %(default)s")
    ap.add_argument("--steps", type=int, default=50, help="timed steps (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps first (default: %(default)s)")
    ap.add_argument("--workers", type=int, default=8, help="DataLoader worker processes (default: %(default)s)")
    ap.add_argument("--prefetch", type=int, default=2, help="batches each worker prepares ahead (default: %(default)s)")
    ap.add_argument("--images", type=int, default=8, help="PNGs to generate per dataset, a quarter of the GTA5 ones 1914x1054 (default: %(default)s)")
    ap.add_argument("--data", help="folder for the generated PNGs, kept and reused (default: a temporary one)")
    ap.add_argument("--adaptseg", action="store_true", help="time the AdaptSeg step (two passes + discriminator)")
    ap.add_argument("--peak-tflops", nargs="+", metavar="[PRECISION=]TFLOPS",
                    help="dense peak to divide by, for all precisions or per precision (e.g. bf16=989 fp32=67)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: %(default)s")
    ap.add_argument("--threads", type=int, help="torch threads of the training process")
    ap.add_argument("--out", help="default benchmarks/results/train_throughput_<device-kind>.json")
    a = ap.parse_args()
    cfg = load_config(PAPER_CONFIG)
    base = paper_sizes(cfg) if a.paper else QUICK
    sizes = {k: getattr(a, k) if getattr(a, k) is not None else v for k, v in base.items()}
    device = setup_runtime(a.threads, a.device)
    with tempfile.TemporaryDirectory(prefix="adaseg_throughput_") as tmp:
        data = Path(a.data or tmp)
        prepare_data(data, a.images, a.adaptseg)
        summary = run(a, cfg, sizes, device, data)
    res = dict(device=device.type, device_name=device_name(device), torch=torch.__version__,
               threads=torch.get_num_threads(), workers=a.workers, prefetch=a.prefetch,
               date=time.strftime("%Y-%m-%d"), command=shlex.join(["python", *sys.argv]),
               step="adaptseg" if a.adaptseg else "supervised", **sizes, steps=a.steps, warmup=a.warmup,
               images=a.images, output_stride=cfg["model"]["output_stride"], aux_weight=cfg["train"]["aux_weight"],
               channels_last=device.type == "cuda", cudnn_benchmark=torch.backends.cudnn.benchmark,
               cudnn_allow_tf32=torch.backends.cudnn.allow_tf32, **summary)
    print(json.dumps(res, indent=1))
    out = Path(a.out or ROOT / "benchmarks" / "results" / f"train_throughput_{device_kind(device)}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
