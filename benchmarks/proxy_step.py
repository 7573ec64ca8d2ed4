"""The proxy's fine-tuning step against a reference model's, side by side in one run (a ratio).

    python benchmarks/proxy_step.py                     # config.yaml's step vs model.width 64 in fp32
    python benchmarks/proxy_step.py --reference-width 64 --steps 30 --threads 1

Three steps, each a DeepLabV3+ built by `adaseg.models.build_model` from config.yaml's `model` section:
the proxy's (config.yaml's model in its train.precision), the same model in fp32 (the precision's
share), and the reference: `model.width` replaced (by default 64: torchvision's ResNet, the proxy
model of 8626920) in fp32. A step is what stage-1 fine-tuning does per iteration on the proxy: a forward of
`finetune.batch_size` source + as many target images at `proxy.height` x `proxy.width`, CE of the main
and auxiliary heads (train.aux_weight), backward and an SGD step (momentum, weight decay). Timed
steps alternate between the models in rounds (A, B, C, A, B, C, ...), after untimed warm-up steps, so that
what else the machine does falls on both alike. Writes benchmarks/results/proxy_step_cpu.json:
seconds per step (median) of each model, the ratios reference / proxy and fp32 / proxy, parameters and the FLOPs of
one step (torch.utils.flop_counter).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from adaseg.models import build_model  # noqa: E402


def _step(model, opt, x, y, aux_weight):
    out = model(x, with_aux=True)
    size = x.shape[-2:]
    loss = F.cross_entropy(F.interpolate(out["logits"], size=size, mode="bilinear", align_corners=False), y,
                           ignore_index=255)
    if out.get("aux") is not None and aux_weight:
        loss = loss + aux_weight * F.cross_entropy(
            F.interpolate(out["aux"], size=size, mode="bilinear", align_corners=False), y, ignore_index=255)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(ROOT / "config.yaml"))
    ap.add_argument("--reference-width", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per model")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "proxy_step_cpu.json"))
    a = ap.parse_args(argv)
    cfg = yaml.safe_load(Path(a.config).read_text())
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    bs = 2 * int(cfg["finetune"]["batch_size"])
    h, w = int(cfg["proxy"]["height"]), int(cfg["proxy"]["width"])
    x = torch.randn(bs, 3, h, w)
    y = torch.randint(0, 19, (bs, h, w))
    aux = float(cfg["train"].get("aux_weight", 0.4))
    precision = cfg["train"].get("precision", "fp32")
    models = {"proxy": dict(cfg["model"]), "proxy_fp32": dict(cfg["model"]),
              "reference": dict(cfg["model"], width=a.reference_width)}
    precisions = {"proxy": precision, "proxy_fp32": "fp32", "reference": "fp32"}
    built = {}
    for name, mcfg in models.items():
        m = build_model(mcfg, 19).train().set_precision(precisions[name])
        opt = torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
        with FlopCounterMode(display=False) as fc:
            _step(m, opt, x, y, aux)
        for _ in range(a.warmup):
            _step(m, opt, x, y, aux)
        built[name] = (m, opt, fc.get_total_flops(), sum(p.numel() for p in m.parameters()))
    times = {name: [] for name in models}
    for _ in range(a.steps):
        for name, (m, opt, _, _) in built.items():
            t = time.perf_counter()
            _step(m, opt, x, y, aux)
            times[name].append(time.perf_counter() - t)
    med = {name: statistics.median(v) for name, v in times.items()}
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = None
    result = {
        "what": "stage-1 fine-tuning step (forward, CE main + aux, backward, SGD) on random proxy-size batches",
        "batch": bs, "size": [h, w], "threads": a.threads, "steps": a.steps,
        "models": {name: {"model": models[name], "precision": precisions[name], "seconds_per_step_median": med[name],
                          "seconds_per_step_min": min(times[name]), "gflop_per_step": built[name][2] / 1e9,
                          "parameters": built[name][3]} for name in models},
        "ratio_reference_over_proxy": med["reference"] / med["proxy"],
        "ratio_fp32_over_proxy": med["proxy_fp32"] / med["proxy"],
        "machine": {"processor": platform.processor() or platform.machine(), "python": platform.python_version(),
                    "torch": torch.__version__},
        "commit": commit, "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"proxy ({precision}) {med['proxy']:.3f} s/step, fp32 {med['proxy_fp32']:.3f} s/step "
          f"({result['ratio_fp32_over_proxy']:.2f}x), reference (width {a.reference_width}, fp32) {med['reference']:.3f} "
          f"s/step: {result['ratio_reference_over_proxy']:.2f}x")
    return result


if __name__ == "__main__":
    main()
