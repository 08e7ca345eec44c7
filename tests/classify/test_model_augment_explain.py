"""Network shapes, augmentation (deterministic core, seeded wrapper) and Grad-CAM vs captum."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from braintwin.classify.augment import (
    AugmentParams,
    apply_augmentation,
    random_augmentation,
    random_skull_strip,
    reframe,
    strip_rim,
)
from braintwin.classify.explain import grad_cam, overlay_png
from braintwin.classify.model import SliceResNet, batch_logits, build_model


def _params(b: int, **over: float) -> AugmentParams:
    base = dict(
        flip=0.0,
        angle_deg=0.0,
        scale=1.0,
        shift_x=0.0,
        shift_y=0.0,
        gamma=1.0,
        contrast=1.0,
        brightness=0.0,
        noise_sd=0.0,
    )
    base.update(over)
    return AugmentParams(**{k: torch.full((b,), float(v)) for k, v in base.items()})


def _tiny(seed: int = 0) -> SliceResNet:
    torch.manual_seed(seed)
    m = SliceResNet(widths=(8, 8, 16, 16), blocks=(1, 1, 1))
    for mod in m.modules():  # non-zero last-BN scale so every block contributes to the CAM
        if isinstance(mod, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(mod.weight, 0.5, 1.5)
    return m.eval()


def test_model_shapes() -> None:
    m = build_model("slice_resnet", widths=[8, 8, 16, 16], blocks=[1, 1, 1])
    assert m(torch.rand(2, 1, 64, 64)).shape == (2, 4)
    assert batch_logits(m, np.zeros((3, 64, 64), np.uint8), batch_size=2).shape == (3, 4)
    with pytest.raises(KeyError):
        build_model("nope")


def test_identity_and_flip_are_exact(rng: np.random.Generator) -> None:
    x = torch.from_numpy(rng.random((2, 1, 32, 32)).astype(np.float32))
    torch.testing.assert_close(apply_augmentation(x, _params(2)), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        apply_augmentation(x, _params(2, flip=1.0)), x.flip(-1), atol=1e-5, rtol=0
    )
    # 90° rotation of the sampling grid is an exact transpose-and-flip of the pixels.
    rot = apply_augmentation(x, _params(2, angle_deg=90.0))
    torch.testing.assert_close(rot, torch.rot90(x, k=1, dims=(2, 3)), atol=1e-4, rtol=0)


def test_intensity_ops(rng: np.random.Generator) -> None:
    x = torch.from_numpy(rng.random((1, 1, 16, 16)).astype(np.float32))
    torch.testing.assert_close(
        apply_augmentation(x, _params(1, gamma=2.0)), x**2, atol=1e-5, rtol=0
    )
    y = apply_augmentation(x * 0.5, _params(1, brightness=0.1))
    torch.testing.assert_close(y, x * 0.5 + 0.1, atol=1e-5, rtol=0)


def test_random_augmentation_seeded(rng: np.random.Generator) -> None:
    x = torch.from_numpy(rng.random((4, 1, 32, 32)).astype(np.float32))
    a = random_augmentation(x, torch.Generator().manual_seed(1))
    b = random_augmentation(x, torch.Generator().manual_seed(1))
    c = random_augmentation(x, torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


def _head(n: int = 96) -> torch.Tensor:
    """A SYNTHETIC head: brain disc (radius 30, 0.5) with a dark ventricle, a bright skull ring
    (radius 30-38, 0.9) touching nothing; returns (1, 1, n, n)."""
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(yy - n / 2, xx - n / 2)
    img = np.where(r < 30, 0.5, 0.0) + np.where((r >= 30) & (r < 38), 0.9, 0.0)
    img[(r < 6)] = 0.02  # ventricle darker than the background threshold
    return torch.from_numpy(img.astype(np.float32))[None, None]


def test_strip_rim_removes_the_outer_ring_only() -> None:
    x = _head()
    n = x.shape[-1]
    yy, xx = np.mgrid[:n, :n]
    r = torch.from_numpy(np.hypot(yy - n / 2, xx - n / 2))[None, None]
    y = strip_rim(x, 9)
    assert float(y[r >= 31].max()) == 0.0  # skull (8 px) and 1 px of brain gone
    assert torch.equal(y[r < 27], x[r < 27])  # brain and the dark ventricle untouched
    # Depth 0 keeps the head as is; the head touching the image border is still cut there.
    assert torch.equal(strip_rim(x, 0), x)
    edge = x[..., 10:-10, :]  # crop so the skull ring touches the top and bottom borders
    assert float(strip_rim(edge, 9)[..., 0, :].max()) == 0.0


def test_reframe_fills_the_frame_and_restretches() -> None:
    x = torch.zeros(1, 1, 64, 64)
    x[..., 24:40, 20:44] = 0.4  # a dim 16 x 24 object in the middle
    y = reframe(x)
    assert y.shape == x.shape
    assert float((y > 0.08).float().mean()) > 0.55  # the object now spans the width
    assert abs(float(y.max()) - 1.0) < 1e-6  # its bright end is white again
    blank = torch.zeros(1, 1, 32, 32)
    assert torch.equal(reframe(blank), blank)


def test_random_skull_strip_seeded_and_optional() -> None:
    x = _head().repeat(8, 1, 1, 1)
    a = random_skull_strip(x, torch.Generator().manual_seed(3), p=0.5)
    b = random_skull_strip(x, torch.Generator().manual_seed(3), p=0.5)
    assert torch.equal(a, b)
    changed = [not torch.equal(a[i], x[i]) for i in range(8)]
    assert 0 < sum(changed) < 8
    assert torch.equal(random_skull_strip(x, torch.Generator().manual_seed(3), p=0.0), x)


def test_grad_cam_matches_captum(rng: np.random.Generator) -> None:
    from captum.attr import LayerGradCam

    model = _tiny()
    img = (rng.random((64, 64)) * 255).astype(np.uint8)
    ours = grad_cam(model, img, target=2)
    x = torch.from_numpy(img)[None, None].float() / 255.0
    ref = LayerGradCam(model, model.features).attribute(x, target=2, relu_attributions=True)
    ref = torch.nn.functional.interpolate(ref, size=(64, 64), mode="bilinear", align_corners=False)
    ref_np = ref[0, 0].detach().numpy()
    assert ref_np.max() > 0
    np.testing.assert_allclose(ours, ref_np / ref_np.max(), atol=1e-4)
    assert ours.shape == (64, 64) and ours.min() >= 0.0 and ours.max() <= 1.0


def test_overlay_is_png(rng: np.random.Generator) -> None:
    img = (rng.random((64, 64)) * 255).astype(np.uint8)
    png = overlay_png(img, rng.random((64, 64)), title="glioma 0.90")
    im = Image.open(io.BytesIO(png))
    assert im.format == "PNG" and im.mode == "RGB" and im.size == (256, 256)
