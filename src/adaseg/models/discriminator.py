"""Output-space discriminator of AdaptSeg (Tsai et al., CVPR'18), used for the warm-up.

Five convolutions with 64-128-256-512-1 filters, stride 2, LeakyReLU(0.2) after the first four;
it reads the softmax of the segmentation output and scores each patch as source (0) or target (1).
"""
from __future__ import annotations

import torch
import torch.nn as nn


class OutputSpaceDiscriminator(nn.Module):
    def __init__(self, num_classes: int, base: int = 64, kernel_size: int = 4):
        super().__init__()
        widths = [num_classes, base, base * 2, base * 4, base * 8]
        layers: list[nn.Module] = []
        pad = (kernel_size - 1) // 2 if kernel_size % 2 else kernel_size // 2 - 1
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(cin, cout, kernel_size, stride=2, padding=pad), nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Conv2d(widths[-1], 1, kernel_size, stride=2, padding=pad))
        self.net = nn.Sequential(*layers)

    def forward(self, prob: torch.Tensor) -> torch.Tensor:
        """Patch logits (B, 1, h, w) for a softmax map (B, C, H, W)."""
        return self.net(prob)
