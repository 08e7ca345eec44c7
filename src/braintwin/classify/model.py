"""The classifier network: a compact ResNet (He et al. 2016, "Deep residual learning") for 1-channel slices.

Built to train from scratch on two CPU cores: a stride-2 stem brings 128x128 to 64x64, three
residual stages halve the grid to 8x8 while widening the channels, then global average pooling
and a linear head give 4 logits. About 1 M parameters (~4 MB as float32).

Registry (explicit, no discovery): ``ARCHITECTURES`` maps a name to its constructor, so the
weights file records the name and widths it was trained with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "ARCHITECTURES",
    "BasicBlock",
    "FlipAverage",
    "SliceResNet",
    "batch_logits",
    "build_model",
]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.short = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.short(x))


class SliceResNet(nn.Module):
    """Input (B, 1, H, W) in [0, 1] (prepared slices / 255); output (B, n_classes) logits.

    ``self.features`` ends at the last residual stage (B, widths[-1], H/16, W/16): the layer
    Grad-CAM explains.
    """

    def __init__(
        self,
        n_classes: int = 4,
        widths: Sequence[int] = (32, 48, 96, 192),
        blocks: Sequence[int] = (2, 2, 2),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if len(blocks) != len(widths) - 1:
            raise ValueError("need one block count per stage after the stem")
        w0 = widths[0]
        layers: list[nn.Module] = [
            nn.Conv2d(1, w0 * 3 // 4, 3, 2, 1, bias=False),
            nn.BatchNorm2d(w0 * 3 // 4),
            nn.ReLU(inplace=True),
            nn.Conv2d(w0 * 3 // 4, w0, 3, 1, 1, bias=False),
            nn.BatchNorm2d(w0),
            nn.ReLU(inplace=True),
        ]
        c = w0
        for w, n in zip(widths[1:], blocks, strict=True):
            layers.append(BasicBlock(c, w, stride=2))
            layers.extend(BasicBlock(w, w) for _ in range(n - 1))
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c, n_classes)
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        # Zero-init the last BN of each block so every block starts as identity (Goyal et al.
        # 2017), which stabilises short from-scratch schedules.
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Centre the [0, 1] input; BN after the first conv handles the scale.
        return self.head(self.features(x - 0.5))


class FlipAverage(nn.Module):
    """The deployed predictor: mean logits of a slice and its left-right mirror (same I/O)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.model(x) + self.model(x.flip(-1)))


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "slice_resnet": SliceResNet,
}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Construct a registered architecture by name with its keyword arguments."""
    if name not in ARCHITECTURES:
        raise KeyError(f"unknown classifier architecture {name!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name](**kwargs)


def batch_logits(
    model: nn.Module, images: np.ndarray, batch_size: int = 256, *, flip_average: bool = True
) -> np.ndarray:
    """Logits (n, n_classes) float32 for prepared uint8 slices (n, size, size), in eval mode.

    ``flip_average``: average the logits of each slice and its left-right mirror (test-time
    augmentation; brains are near-symmetric and training used random mirroring). Doubles the
    cost, which stays far below the 0.02 s/image budget.
    """
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i : i + batch_size]))
            x = x[:, None].float() / 255.0
            out.append((FlipAverage(model) if flip_average else model)(x).numpy())
    return np.concatenate(out, axis=0) if out else np.zeros((0, 4), dtype=np.float32)
