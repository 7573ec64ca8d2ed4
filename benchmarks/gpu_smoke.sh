#!/usr/bin/env bash
# Every stage of table1_gta, by its CLI, on the tiny config with device=cuda (no Snakemake needed):
#   bash benchmarks/gpu_smoke.sh OUTDIR
# Checks the GPU code paths end to end; prints the final table.
set -euo pipefail
out=${1:-/tmp/adaseg_gpu_smoke}
rm -rf "$out" && mkdir -p "$out"
python3 - "$out" <<'PY'
import sys, yaml
out = sys.argv[1]
cfg = yaml.safe_load(open("tests/tiny.yaml"))
cfg.update(device="cuda", results=f"{out}/results")
cfg["proxy"]["dir"] = f"{out}/proxy"
for name, d in cfg["datasets"].items():
    d["root"] = f"{out}/proxy/{name}"
yaml.safe_dump(cfg, open(f"{out}/config.yaml", "w"))
PY
c="--config $out/config.yaml"
r=$out/results/gta5
a="python3 -m adaseg"
$a synth $c --dataset gta5 --out $out/proxy/gta5
$a synth $c --dataset cityscapes --out $out/proxy/cityscapes
for k in source_only adaptseg; do
  $a warmup $c --kind $k --source gta5 --target cityscapes --out $r/warmup/$k.pt
  $a evaluate $c --checkpoint $r/warmup/$k.pt --target cityscapes --out $r/eval/warmup/$k.json
done
for d in source target; do
  $a features $c --checkpoint $r/warmup/adaptseg.pt --dataset $([ $d = source ] && echo gta5 || echo cityscapes) --mode $d --out $r/features/warmup/adaptseg/$d.h5
done
$a select $c --strategy mada --target cityscapes --budget 10 --source-features $r/features/warmup/adaptseg/source.h5 \
  --target-features $r/features/warmup/adaptseg/target.h5 --scores-out $r/select/mada/10/scores.npz --out $r/select/mada/10/selection.json
$a select $c --strategy random --target cityscapes --budget 10 --out $r/select/random/10/selection.json
$a select $c --strategy full --target cityscapes --budget 100 --out $r/select/full/100/selection.json
for s in mada/10 random/10 full/100; do
  $a finetune $c --objective stage1 --init $r/warmup/adaptseg.pt --selection $r/select/$s/selection.json --source gta5 --target cityscapes --out $r/finetune/$s/stage1.pt
  $a evaluate $c --checkpoint $r/finetune/$s/stage1.pt --target cityscapes --out $r/eval/finetune/$s/stage1.json
done
f=$r/finetune/mada/10
$a features $c --checkpoint $f/stage1.pt --dataset cityscapes --mode target --out $r/features/finetune/mada/10/stage1/target.h5
$a target-anchors $c --features $r/features/finetune/mada/10/stage1/target.h5 --out $f/target_anchors.npz
$a pseudo-labels $c --checkpoint $f/stage1.pt --target cityscapes --out $f/pseudo_labels.h5
$a finetune $c --objective stage2 --init $f/stage1.pt --selection $r/select/mada/10/selection.json --source gta5 --target cityscapes \
  --target-anchors $f/target_anchors.npz --pseudo-labels $f/pseudo_labels.h5 --out $f/stage2.pt
$a evaluate $c --checkpoint $f/stage2.pt --target cityscapes --out $r/eval/finetune/mada/10/stage2.json
$a table $c --name table1_gta --row source_only@0=$r/eval/warmup/source_only.json --row adaptseg@0=$r/eval/warmup/adaptseg.json \
  --row random@0=$r/eval/finetune/random/10/stage1.json --row mada_stage1@0=$r/eval/finetune/mada/10/stage1.json \
  --row mada_full@0=$r/eval/finetune/mada/10/stage2.json --row fully_supervised@0=$r/eval/finetune/full/100/stage1.json \
  --reference mada_stage1@0=$r/eval/finetune/random/10/stage1.json --out-prefix $out/results/tables/table1_gta
python3 -c "import json,sys; d=json.load(open('$r/eval/finetune/mada/10/stage2.json')); print('stage2 checkpoint evaluated on', d['dataset'], 'mIoU', d['miou'])"
echo GPU_SMOKE_OK
