"""What a canvas shows, read from screenshots of the element (PNG -> numpy RGB).

A screenshot is what the user sees (WebGL drawing buffer composited by the browser), so no
``preserveDrawingBuffer`` is needed. The background is the canvas's most frequent colour
(NiiVue's back colour fills everything outside the slices).
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from playwright.sync_api import Locator

__all__ = [
    "background",
    "changed",
    "coloured",
    "foreground",
    "grab",
    "grey_levels",
    "wait_for_change",
]

#: Per-channel difference (0-255) below which two pixels count as the same colour
#: (anti-aliasing and software-rasteriser noise stay below it).
TOLERANCE = 12


def grab(locator: Locator, save: Path | None = None) -> np.ndarray:
    """The element as an (H, W, 3) uint8 array (also saved as PNG when ``save`` is given)."""
    png = locator.screenshot(animations="disabled")
    if save is not None:
        save.write_bytes(png)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def background(rgb: np.ndarray) -> np.ndarray:
    """The most frequent colour."""
    flat = rgb.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    return np.asarray(colours[int(np.argmax(counts))])


def foreground(rgb: np.ndarray) -> np.ndarray:
    """Mask of pixels that differ from the background colour."""
    diff = np.abs(rgb.astype(int) - background(rgb).astype(int)).max(axis=-1)
    return np.asarray(diff > TOLERANCE)


def grey_levels(rgb: np.ndarray) -> int:
    """Distinct grey levels among the foreground's grey pixels (an MRI slice has many; text
    labels and a crosshair have a handful)."""
    fg = rgb[foreground(rgb)]
    grey = fg[(np.ptp(fg.astype(int), axis=-1) <= 2)]
    return len(np.unique(grey[:, 0])) if len(grey) else 0


def coloured(rgb: np.ndarray) -> np.ndarray:
    """Mask of clearly coloured (non-grey) pixels: overlays, crosshair, markers."""
    return np.asarray(np.ptp(rgb.astype(int), axis=-1) > 40)


def changed(a: np.ndarray, b: np.ndarray) -> int:
    """Number of pixels whose colour differs between two screenshots of the same element."""
    if a.shape != b.shape:
        return int(max(a.shape[0] * a.shape[1], b.shape[0] * b.shape[1]))
    return int((np.abs(a.astype(int) - b.astype(int)).max(axis=-1) > TOLERANCE).sum())


def wait_for_change(
    locator: Locator, before: np.ndarray, min_pixels: int, timeout_s: float = 30.0
) -> np.ndarray:
    """Screenshots of ``locator`` until at least ``min_pixels`` differ from ``before`` (the
    viewer redraws asynchronously, after fetching volumes); the last one either way."""
    end = time.monotonic() + timeout_s
    while True:
        now = grab(locator)
        if changed(before, now) >= min_pixels or time.monotonic() > end:
            return now
        time.sleep(0.25)
