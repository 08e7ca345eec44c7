"""Grad-CAM explanation maps (Selvaraju et al. 2017, "Grad-CAM", ICCV) and their PNG overlay.

For class c with score y_c and the last feature maps A_k (H', W'), Grad-CAM is
``relu(sum_k alpha_k A_k)`` with ``alpha_k = mean_ij d y_c / d A_k[i, j]``, upsampled to the
input. :func:`grad_cam` uses torch hooks on ``model.features``; the tests check it against
captum's ``LayerGradCam``, an independent implementation of the same equation.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

__all__ = ["grad_cam", "overlay_png"]


def grad_cam(model: Any, image: np.ndarray, target: int) -> np.ndarray:
    """Grad-CAM heat map for one prepared slice.

    Args:
        model: a :class:`~braintwin.classify.model.SliceResNet` (uses ``model.features``).
        image: (size, size) uint8 prepared slice.
        target: class index to explain.

    Returns:
        (size, size) float32 in [0, 1] (all zeros when no region supports the class).
    """
    import torch
    import torch.nn.functional as F

    store: dict[str, torch.Tensor] = {}

    def keep(_module: Any, _inputs: Any, output: torch.Tensor) -> None:
        output.retain_grad()
        store["act"] = output

    handle = model.features.register_forward_hook(keep)
    try:
        model.eval()
        x = torch.from_numpy(np.ascontiguousarray(image))[None, None].float() / 255.0
        with torch.enable_grad():
            logits = model(x)
            model.zero_grad(set_to_none=True)
            logits[0, target].backward()
    finally:
        handle.remove()
    act = store["act"]
    grad = act.grad
    if grad is None:  # cannot happen with a connected graph; keep a clear failure anyway
        raise RuntimeError("Grad-CAM: no gradient reached the feature layer")
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * act).sum(dim=1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=image.shape, mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    out = (cam / peak).numpy() if peak > 0 else np.zeros(image.shape, dtype=np.float32)
    return out.astype(np.float32)


def overlay_png(
    image: np.ndarray, heat: np.ndarray, *, alpha: float = 0.45, title: str = ""
) -> bytes:
    """PNG bytes: the grey slice with the heat map in the 'jet' colour map blended on top.

    ``alpha`` scales with the heat so cold regions show the anatomy unchanged. ``title``
    (e.g. "glioma 0.97") is drawn in the top-left corner.
    """
    from matplotlib import colormaps
    from PIL import Image, ImageDraw

    grey = np.repeat(np.asarray(image, dtype=np.float32)[..., None] / 255.0, 3, axis=2)
    colour = colormaps["jet"](np.clip(heat, 0.0, 1.0))[..., :3]
    a = alpha * np.clip(heat, 0.0, 1.0)[..., None]
    rgb = np.rint(255.0 * ((1.0 - a) * grey + a * colour)).astype(np.uint8)
    im = Image.fromarray(rgb, mode="RGB")
    if im.width < 256:  # upscale for legibility in reports
        im = im.resize((256, 256 * im.height // im.width), Image.Resampling.BILINEAR)
    if title:
        ImageDraw.Draw(im).text((4, 2), title, fill=(255, 255, 255))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
