"""Training-step throughput of the segmentation model (and the AdaptSeg step) on this machine.

    python benchmarks/train_throughput.py --backbone resnet101 --crop 512 896 --batch 2 --out tp.json

Times `--steps` optimisation steps after `--warmup` untimed ones, on random data with the model of
the given size, and prints/writes images per second. Use it to size `warmup.iterations` and
`finetune.*.iterations` for a machine; the numbers depend on the machine, so report them with it.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import torch
import torch.nn.functional as F

from adaseg.models import DeepLabV3Plus, OutputSpaceDiscriminator, upsample


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(backbone: str, crop, batch: int, steps: int, warmup: int, device: torch.device, width: int,
            adaptseg: bool, amp: bool) -> dict:
    torch.manual_seed(0)
    model = DeepLabV3Plus(19, backbone, 16, width, width).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    disc = OutputSpaceDiscriminator(19).to(device) if adaptseg else None
    x = torch.randn(batch, 3, *crop, device=device)
    y = torch.randint(0, 19, (batch, *crop), device=device)
    dtype = torch.bfloat16 if amp else torch.float32

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            p = upsample(model(x)["logits"], crop)
            loss = F.cross_entropy(p.float(), y)
            if disc is not None:
                pt = upsample(model(x)["logits"], crop)
                d = disc(F.softmax(pt.float(), 1))
                loss = loss + 0.01 * F.binary_cross_entropy_with_logits(d, torch.zeros_like(d))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    dt = (time.perf_counter() - t) / steps
    res = dict(backbone=backbone, crop=list(crop), batch=batch, width=width, adaptseg=adaptseg, amp=amp,
               seconds_per_step=round(dt, 5), images_per_second=round(batch / dt, 2), device=str(device),
               device_name=torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
               threads=torch.get_num_threads(), torch=torch.__version__)
    if device.type == "cuda":
        res["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2 ** 30, 2)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--crop", type=int, nargs=2, default=[64, 128])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--width", type=int, default=64, help="ASPP/decoder channels (256 in the papers)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--adaptseg", action="store_true", help="time the AdaptSeg step (two passes + discriminator)")
    ap.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    res = measure(a.backbone, tuple(a.crop), a.batch, a.steps, a.warmup, device, a.width, a.adaptseg, a.amp)
    print(json.dumps(res))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
