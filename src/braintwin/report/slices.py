"""Slices as a radiologist reads them: orientation from the affine, markers, scale bar.

Every slice panel of the report goes through :func:`plane_view`, which reads the direction of
each array axis from the volume's affine (never assumes RAS) and lays the slice out in the
radiological convention: axial and coronal with the patient's right on the image's left,
anterior (axial) or superior up, sagittal with anterior on the left. :func:`annotate` writes the
letters at the four edges (R/L, A/P, S/I) and a scale bar in millimetres, so a reader never has
to guess which side is which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "PLANES",
    "PlaneView",
    "annotate",
    "array_directions",
    "crop_box",
    "plane_view",
    "scale_bar_mm",
]

# world axis (RAS+) -> (letter at its negative end, letter at its positive end)
_LETTERS = (("L", "R"), ("P", "A"), ("I", "S"))
_OPPOSITE = {"L": "R", "R": "L", "P": "A", "A": "P", "I": "S", "S": "I"}

# plane -> (world axis cut, horizontal world axis, letter on the left, vertical axis, letter on top)
PLANES: dict[str, tuple[int, int, str, int, str]] = {
    "axial": (2, 0, "R", 1, "A"),
    "coronal": (1, 0, "R", 2, "S"),
    "sagittal": (0, 1, "A", 2, "S"),
}


def array_directions(affine: np.ndarray) -> list[tuple[int, int]]:
    """For each array axis, (world axis it runs along, +1 or −1), from the affine's columns.

    Oblique affines are read by their dominant direction; an affine whose axes do not map to
    three different world axes is read as RAS (the twin's grids are RAS by construction).
    """
    m = np.asarray(affine, dtype=float)[:3, :3]
    out = []
    for a in range(3):
        col = m[:, a]
        w = int(np.argmax(np.abs(col)))
        out.append((w, 1 if col[w] > 0 else -1))
    if len({w for w, _ in out}) != 3:
        return [(0, 1), (1, 1), (2, 1)]
    return out


@dataclass(frozen=True)
class PlaneView:
    """A 2D slice as displayed: row 0 at the top, column 0 at the left.

    Attributes:
        image: (rows, cols) values.
        left, right, top, bottom: the anatomical direction at each edge ("R", "A", …).
        col_mm, row_mm: millimetres per displayed column and per row.
    """

    plane: str
    image: np.ndarray
    left: str
    right: str
    top: str
    bottom: str
    col_mm: float
    row_mm: float


def plane_view(
    data: np.ndarray,
    affine: np.ndarray,
    center: Sequence[int],
    plane: str,
) -> PlaneView:
    """The ``plane`` ("axial", "coronal", "sagittal") slice of ``data`` through voxel
    ``center``, flipped so that it reads in the radiological convention (see module doc)."""
    dirs = array_directions(affine)
    spacing = np.sqrt((np.asarray(affine, dtype=float)[:3, :3] ** 2).sum(axis=0))
    of_world = {w: (a, s) for a, (w, s) in enumerate(dirs)}
    cut_w, h_w, left, v_w, top = PLANES[plane]
    cut_a = of_world[cut_w][0]
    (h_a, h_s), (v_a, v_s) = of_world[h_w], of_world[v_w]
    sl = np.take(data, int(np.clip(center[cut_a], 0, data.shape[cut_a] - 1)), axis=cut_a)
    img = sl.T if h_a < v_a else sl  # rows along the vertical axis, columns horizontal
    # Index increasing along an axis points to the letter of its world direction.
    if _LETTERS[h_w][1 if h_s > 0 else 0] == left:
        img = img[:, ::-1]
    if _LETTERS[v_w][1 if v_s > 0 else 0] == top:
        img = img[::-1, :]
    return PlaneView(
        plane=plane,
        image=np.ascontiguousarray(img),
        left=left,
        right=_OPPOSITE[left],
        top=top,
        bottom=_OPPOSITE[top],
        col_mm=float(spacing[h_a]),
        row_mm=float(spacing[v_a]),
    )


def crop_box(
    mask: np.ndarray | None, shape: Sequence[int], margin: int = 6
) -> tuple[slice, slice, slice]:
    """Index box around the non-zero part of ``mask`` (plus ``margin`` voxels), so the brain
    fills the panel instead of the scanner's empty field of view; the whole grid if empty."""
    if mask is None or not np.any(mask):
        return (slice(None), slice(None), slice(None))
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + margin + 1, np.asarray(shape))
    return (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))


def scale_bar_mm(width_mm: float) -> float:
    """A round bar length (mm) of at most a quarter of the panel's width."""
    for length in (100.0, 50.0, 20.0, 10.0, 5.0, 2.0, 1.0):
        if length <= width_mm / 4:
            return length
    return 1.0


def annotate(ax: Any, view: PlaneView, *, colour: str = "white", fontsize: float = 9) -> float:
    """Draw the edge letters and a scale bar on ``ax`` (showing ``view.image`` with imshow in
    pixel coordinates); returns the bar's length in displayed columns (pixels)."""
    import matplotlib.patheffects as pe

    outline = [pe.withStroke(linewidth=2.5, foreground="black")]
    rows, cols = view.image.shape
    for x, y, letter, ha, va in (
        (0.015, 0.5, view.left, "left", "center"),
        (0.985, 0.5, view.right, "right", "center"),
        (0.5, 0.985, view.top, "center", "top"),
        (0.5, 0.015, view.bottom, "center", "bottom"),
    ):
        ax.text(
            x,
            y,
            letter,
            transform=ax.transAxes,
            ha=ha,
            va=va,
            color=colour,
            fontsize=fontsize,
            fontweight="bold",
            path_effects=outline,
        )
    length = scale_bar_mm(cols * view.col_mm)
    px = length / view.col_mm
    x1 = cols - 0.06 * cols
    y = rows - 0.07 * rows
    ax.plot(
        [x1 - px, x1], [y, y], color=colour, lw=2.5, solid_capstyle="butt", path_effects=outline
    )
    ax.text(
        x1 - px / 2,
        y - 0.025 * rows,
        f"{length:g} mm",
        color=colour,
        fontsize=fontsize - 1.5,
        ha="center",
        va="bottom",
        path_effects=outline,
    )
    return float(px)
