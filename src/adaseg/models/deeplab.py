"""DeepLabV3+ over a ResNet (torchvision's layout and parameter names: models/resnet.py), with a
`features` output and an auxiliary head.

Layout as in the official MADA/RIPU code: ASPP with dilations 1/6/12/18 (scaled for
output stride 8) plus image pooling, a decoder that reduces layer1 to 48 channels, concatenates,
applies two 3x3 convolutions, and a 1x1 classifier. `features` is the decoder output before the
classifier (stride 4), the feature MADA's anchors are built from.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .resnet import ResNet

BACKBONES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048}
LOW_LEVEL = {"resnet18": 64, "resnet34": 64, "resnet50": 256, "resnet101": 256}
LAYER3 = {"resnet18": 256, "resnet34": 256, "resnet50": 1024, "resnet101": 1024}
# train.precision -> autocast dtype (None: plain fp32)
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _conv_bn_relu(cin: int, cout: int, k: int = 1, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _dilate(layer: nn.Sequential, dilation: int) -> None:
    """Turn a strided ResNet stage into a dilated one (for BasicBlock ResNets, which torchvision
    does not dilate itself): stride 1 everywhere, dilation/padding on the 3x3 convolutions."""
    for m in layer.modules():
        if isinstance(m, nn.Conv2d):
            if m.stride == (2, 2):
                m.stride = (1, 1)
            if m.kernel_size == (3, 3):
                m.dilation, m.padding = (dilation, dilation), (dilation, dilation)


def build_backbone(name: str, output_stride: int, imagenet_weights: str | None, width: int = 64) -> nn.Module:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone '{name}' (known: {', '.join(BACKBONES)})")
    if output_stride not in (8, 16, 32):
        raise ValueError("output_stride must be 8, 16 or 32")
    bottleneck = name in ("resnet50", "resnet101")
    replace = {8: [False, True, True], 16: [False, False, True], 32: [False, False, False]}[output_stride]
    net = ResNet(name, replace, width) if bottleneck else ResNet(name, width=width)
    if imagenet_weights and width != 64:
        raise ValueError(f"model.imagenet_weights are for the torchvision {name} (model.width 64), not width {width}: "
                         "drop the weights or set model.width: 64")
    if imagenet_weights:
        path = Path(imagenet_weights)
        if not path.is_file():
            raise FileNotFoundError(f"ImageNet weights file '{path}' not found (model.imagenet_weights)")
        state = torch.load(path, map_location="cpu", weights_only=True)
        missing, unexpected = net.load_state_dict(state, strict=False)
        if [k for k in missing if not k.startswith("fc.")] or [k for k in unexpected if not k.startswith("fc.")]:
            raise ValueError(f"'{path}' is not a torchvision {name} state dict "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    if not bottleneck:
        if output_stride <= 16:
            _dilate(net.layer4, 2 if output_stride == 16 else 4)
        if output_stride == 8:
            _dilate(net.layer3, 2)
    del net.fc
    return net


class ASPP(nn.Module):
    def __init__(self, cin: int, cout: int, rates: tuple[int, ...]):
        super().__init__()
        self.branches = nn.ModuleList([_conv_bn_relu(cin, cout, 1)] +
                                      [_conv_bn_relu(cin, cout, 3, r) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.ReLU(inplace=True))
        self.project = _conv_bn_relu(cout * (len(rates) + 2), cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [b(x) for b in self.branches]
        outs.append(F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False))
        return self.project(torch.cat(outs, 1))


class DeepLabV3Plus(nn.Module):
    def __init__(self, num_classes: int, backbone: str = "resnet101", output_stride: int = 16,
                 aspp_channels: int = 256, decoder_channels: int = 256, low_level_channels: int = 48,
                 aux_head: bool = True, imagenet_weights: str | None = None, width: int = 64):
        super().__init__()
        self.num_classes = num_classes
        self.backbone = build_backbone(backbone, output_stride, imagenet_weights, width)
        rates = (6, 12, 18) if output_stride >= 16 else (12, 24, 36)
        scale = lambda c: c * width // 64   # backbone channels at this width
        self.aspp = ASPP(scale(BACKBONES[backbone]), aspp_channels, rates)
        self.low_level = _conv_bn_relu(scale(LOW_LEVEL[backbone]), low_level_channels, 1)
        self.decoder = nn.Sequential(_conv_bn_relu(aspp_channels + low_level_channels, decoder_channels, 3),
                                     _conv_bn_relu(decoder_channels, decoder_channels, 3))
        self.classifier = nn.Conv2d(decoder_channels, num_classes, 1)
        self.aux = nn.Sequential(_conv_bn_relu(scale(LAYER3[backbone]), decoder_channels, 3),
                                 nn.Conv2d(decoder_channels, num_classes, 1)) if aux_head else None
        self.feature_dim = decoder_channels
        self.autocast_dtype: torch.dtype | None = None

    def set_precision(self, precision: str) -> "DeepLabV3Plus":
        """'fp32' (default), 'bf16' or 'fp16': the forward pass runs under torch.autocast in that
        type and returns float32 outputs, so losses, softmax statistics and argmaxes stay in fp32."""
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision '{precision}' (known: {', '.join(PRECISIONS)})")
        self.autocast_dtype = PRECISIONS[precision]
        return self

    def head_parameters(self):
        """Parameters outside the backbone (trained with a 10x learning rate)."""
        return [p for n, p in self.named_parameters() if not n.startswith("backbone.")]

    def backbone_parameters(self):
        return list(self.backbone.parameters())

    def forward(self, x: torch.Tensor, with_aux: bool = False) -> dict[str, torch.Tensor]:
        """{'logits': stride-4 class scores, 'features': stride-4 decoder features, 'aux': stride-16
        scores of the auxiliary head (only with with_aux)}, float32. Use `upsample` to reach input size."""
        if self.autocast_dtype is None:
            return self._forward(x, with_aux)
        with torch.autocast(x.device.type, dtype=self.autocast_dtype):
            out = self._forward(x, with_aux)
        return {k: v.float() for k, v in out.items()}

    def _forward(self, x: torch.Tensor, with_aux: bool) -> dict[str, torch.Tensor]:
        b = self.backbone
        x0 = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        l1 = b.layer1(x0)
        l3 = b.layer3(b.layer2(l1))
        l4 = b.layer4(l3)
        a = F.interpolate(self.aspp(l4), size=l1.shape[-2:], mode="bilinear", align_corners=False)
        feats = self.decoder(torch.cat([a, self.low_level(l1)], 1))
        out = {"logits": self.classifier(feats), "features": feats}
        if with_aux and self.aux is not None:
            out["aux"] = self.aux(l3)
        return out


def upsample(logits: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


def build_model(model_cfg: dict, num_classes: int) -> DeepLabV3Plus:
    return DeepLabV3Plus(
        num_classes=num_classes,
        backbone=model_cfg["backbone"],
        output_stride=model_cfg["output_stride"],
        aspp_channels=model_cfg["aspp_channels"],
        decoder_channels=model_cfg["decoder_channels"],
        low_level_channels=model_cfg.get("low_level_channels", 48),
        aux_head=model_cfg.get("aux_head", True),
        imagenet_weights=model_cfg.get("imagenet_weights"),
        width=int(model_cfg.get("width", 64)),
    )
