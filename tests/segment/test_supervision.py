"""Training losses and deep supervision (synthetic tensors, labelled as such)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from braintwin.segment.network import build_network
from braintwin.segment.supervision import DeepSupervised, RegionLoss, training_loss


def test_heads_tap_the_decoder_and_the_full_output_is_the_network_itself() -> None:
    torch.manual_seed(0)
    net = build_network("segresnet").eval()
    ds = DeepSupervised(net).eval()
    x = torch.randn(1, 4, 32, 32, 32)
    with torch.no_grad():
        outs = ds(x)
        plain = net(x)
    assert [tuple(o.shape) for o in outs] == [
        (1, 3, 32, 32, 32),
        (1, 3, 16, 16, 16),
        (1, 3, 8, 8, 8),
    ]
    assert torch.equal(outs[0], plain)
    # The heads are the only parameters the wrapper adds (1×1×1 convolutions, 16 and 32 in).
    extra = sum(p.numel() for p in ds.parameters()) - sum(p.numel() for p in net.parameters())
    assert extra == (16 * 3 + 3) + (32 * 3 + 3)
    with pytest.raises(ValueError, match="stages"):
        DeepSupervised(net, levels=3)


def test_region_loss_known_answers() -> None:
    target = torch.zeros(2, 3, 8, 8, 8)
    target[:, :, 2:6, 2:6, 2:6] = 1
    confident = (target * 2 - 1) * 30  # logits that are right with certainty
    assert float(RegionLoss()(confident, target)) < 1e-4
    # Wrong with certainty: Dice loss ~1 and BCE ~30 (the logit's size).
    assert float(RegionLoss()(-confident, target)) == pytest.approx(31.0, abs=0.01)


def test_deep_supervision_loss_weights_the_coarse_levels_half_and_quarter() -> None:
    torch.manual_seed(1)
    target = (torch.rand(2, 3, 16, 16, 16) > 0.6).float()
    outs = [torch.randn(2, 3, 16, 16, 16), torch.randn(2, 3, 8, 8, 8), torch.randn(2, 3, 4, 4, 4)]
    base = RegionLoss()
    expected = sum(
        w * base(o, F.interpolate(target, size=o.shape[2:], mode="nearest-exact"))
        for w, o in zip((1.0, 0.5, 0.25), outs, strict=True)
    )
    assert float(training_loss(True)(outs, target)) == pytest.approx(float(expected), rel=1e-5)
    assert float(training_loss(False)(outs[0], target)) == pytest.approx(
        float(base(outs[0], target))
    )
