"""Training losses: Dice + BCE per region, optionally deep-supervised at coarser decoder levels.

Deep supervision (Lee et al. 2015; used by the BraTS winners, e.g. Isensee et al. 2018 and
nnU-Net) adds the same loss on the decoder's coarser outputs, each through its own 1×1×1 head,
against the target downsampled to that size (MONAI ``DeepSupervisionLoss``, weights 1, ½, ¼).
The gradient then reaches the deep layers directly, which helps most when there is little
data. MONAI's ``SegResNet`` has no such heads, so :class:`DeepSupervised` wraps one: it runs
the network's own encoder and decoder and taps the decoder after each up-sampling stage. The
heads exist only in training: the wrapped network is what gets saved, so weights trained this
way load and run exactly like any other (inference never sees the heads).
"""

from __future__ import annotations

import torch
from monai.losses import DeepSupervisionLoss, DiceLoss
from torch.nn.modules.loss import _Loss

__all__ = ["DeepSupervised", "RegionLoss", "training_loss"]


class RegionLoss(_Loss):
    """Dice + binary cross-entropy on sigmoid region channels (WT, TC, ET).

    MONAI's ``DiceCELoss`` applies a softmax cross-entropy whenever there are several
    channels, which is wrong for overlapping sigmoid regions, so the two terms are combined
    here. Dice is computed over the whole batch (``batch=True``), so a patch without tumour
    does not give an undefined per-sample Dice.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dice = DiceLoss(sigmoid=True, batch=True)
        self.bce = torch.nn.BCEWithLogitsLoss()

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.dice(logits, target) + self.bce(logits, target)


class DeepSupervised(torch.nn.Module):
    """A MONAI ``SegResNet`` that also returns logits at its coarser decoder levels.

    ``forward`` returns ``[full, half, quarter, ...]`` (finest first, as
    ``DeepSupervisionLoss`` expects); ``full`` is exactly what ``net(x)`` returns.
    ``levels`` counts the extra outputs (at most the number of up-sampling stages minus one).
    """

    def __init__(self, net: torch.nn.Module, out_channels: int = 3, levels: int = 2) -> None:
        super().__init__()
        stages = len(getattr(net, "up_layers", ()))
        if not 1 <= levels < stages:
            raise ValueError(
                f"{levels} deep-supervision levels need a decoder of > {levels} stages"
            )
        self.net = net
        # Channels after up-sampling stage i of SegResNet: init_filters * 2 ** (stages - 1 - i).
        top = int(net.init_filters)  # type: ignore[arg-type]
        self.taps = list(range(stages - 1 - levels, stages - 1))
        self.heads = torch.nn.ModuleList(
            torch.nn.Conv3d(top * 2 ** (stages - 1 - i), out_channels, kernel_size=1)
            for i in self.taps
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        net = self.net
        x, down = net.encode(x)  # type: ignore[operator]
        down.reverse()
        coarse: list[torch.Tensor] = []
        for i, (up, layer) in enumerate(zip(net.up_samples, net.up_layers, strict=True)):  # type: ignore[arg-type]
            x = layer(up(x) + down[i + 1])
            if i in self.taps:
                coarse.append(self.heads[self.taps.index(i)](x))
        if net.use_conv_final:
            x = net.conv_final(x)  # type: ignore[operator]
        return [x, *reversed(coarse)]


def training_loss(deep_supervision: bool) -> _Loss:
    """The loss a training run minimises: region Dice + BCE, deep-supervised if asked."""
    loss = RegionLoss()
    return DeepSupervisionLoss(loss, weight_mode="exp") if deep_supervision else loss
