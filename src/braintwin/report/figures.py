"""Report figures of volumes: grids of axial / coronal / sagittal slices with overlays.

Figures are returned as PNG bytes so the HTML report can embed them and stay one file and the
PDF can place the very same images. Slices are laid out by :mod:`braintwin.report.slices`
(radiological convention, orientation read from the affine, letters at the edges and a scale
bar), cropped to the brain so that it fills the panel, with square millimetres.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from braintwin.report.slices import annotate, crop_box, plane_view
from braintwin.types import Volume

__all__ = [
    "SEG_COLOURS",
    "SEG_NAMES",
    "Layer",
    "center_of_interest",
    "orthogonal_panel",
    "slice_grid",
    "to_png",
]

# label -> RGBA (necrosis red, edema green, enhancing yellow: the usual BraTS palette)
SEG_COLOURS: dict[int, tuple[float, float, float, float]] = {
    1: (0.9, 0.1, 0.1, 0.55),
    2: (0.1, 0.8, 0.2, 0.40),
    4: (1.0, 0.85, 0.0, 0.60),
}
SEG_NAMES = {1: "necrotic / non-enhancing core", 2: "edema", 4: "enhancing tumour"}
_PLANES = ("axial", "coronal", "sagittal")
DPI = 100


def to_png(fig: object, facecolor: str = "black", dpi: int = DPI) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it (black suits MRI panels)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor=facecolor)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return buf.getvalue()


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def center_of_interest(
    seg: Volume | None, mask: Volume | None, shape: Sequence[int]
) -> tuple[int, int, int]:
    """Voxel to slice through: the tumour centroid, else the brain centroid, else the centre."""
    for vol in (seg, mask):
        if vol is not None and np.any(vol.data):
            idx = np.argwhere(vol.data > 0)
            c = np.rint(idx.mean(axis=0)).astype(int)
            return (int(c[0]), int(c[1]), int(c[2]))
    return (shape[0] // 2, shape[1] // 2, shape[2] // 2)


def display_range(data: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    """Grey window: 0.5–99.5th percentile inside the mask (else of the non-zero voxels)."""
    sample = data[mask] if mask is not None and mask.any() else data[data != 0]
    if sample.size == 0:
        return (0.0, 1.0)
    lo, hi = np.percentile(sample, [0.5, 99.5])
    return (float(lo), float(hi if hi > lo else lo + 1))


@dataclass(frozen=True)
class Layer:
    """One thing drawn on every plane of a row.

    kind: ``gray`` (an image, window ``vmin``–``vmax``), ``labels`` (BraTS label outlines in
    :data:`SEG_COLOURS`), ``fill`` (BraTS labels filled, semi-transparent), ``contour`` (the
    0.5 line of a 0–1 map in ``colour``), ``heat`` (a 0–1 map in ``cmap``, hidden below 0.02).
    """

    data: np.ndarray
    kind: Literal["gray", "labels", "fill", "contour", "heat"]
    vmin: float = 0.0
    vmax: float = 1.0
    colour: str = "cyan"
    cmap: str = "magma"
    width: float = 0.9


def _draw(ax: Any, layer: Layer, img: np.ndarray, aspect: float) -> Any:
    from matplotlib.colors import ListedColormap

    if layer.kind == "gray":
        return ax.imshow(
            img,
            cmap="gray",
            vmin=layer.vmin,
            vmax=layer.vmax,
            aspect=aspect,
            interpolation="nearest",
        )
    if layer.kind == "heat":
        return ax.imshow(
            np.ma.masked_less(img, 0.02),
            cmap=layer.cmap,
            vmin=0,
            vmax=1,
            alpha=0.7,
            aspect=aspect,
            interpolation="nearest",
        )
    if layer.kind == "fill":
        lut = np.zeros((5, 4))
        for label, rgba in SEG_COLOURS.items():
            lut[label] = rgba
        shown = np.ma.masked_where(img == 0, np.clip(img, 0, 4))
        return ax.imshow(
            shown,
            cmap=ListedColormap(lut),
            vmin=0,
            vmax=4,
            aspect=aspect,
            interpolation="nearest",
        )
    pairs = (
        [(img == lab, SEG_COLOURS[lab][:3]) for lab in SEG_COLOURS]
        if layer.kind == "labels"
        else [(img > 0.5, layer.colour)]
    )
    for m, colour in pairs:
        if m.any() and not m.all():
            ax.contour(m.astype(np.float32), levels=[0.5], colors=[colour], linewidths=layer.width)
    return None


def slice_grid(
    rows: Sequence[tuple[str, Sequence[Layer]]],
    affine: np.ndarray,
    *,
    center: Sequence[int],
    crop: np.ndarray | None = None,
    title: str | None = None,
    legend: Sequence[tuple[str, Any]] = (),
    colorbar: str | None = None,
    width_in: float = 10.0,
    facecolor: str = "black",
) -> bytes:
    """One row per entry of ``rows`` (name, layers), columns axial / coronal / sagittal
    through voxel ``center``; all layers share the grid of ``affine``.

    Args:
        crop: a mask whose bounding box (plus a margin) is shown instead of the whole grid.
        legend: (text, colour) entries drawn under the grid.
        colorbar: label of a 0–1 colour bar for the first ``heat`` layer, if any.
    """
    plt = _plt()
    shape = rows[0][1][0].data.shape
    box = crop_box(crop, shape)
    lo = [s.start or 0 for s in box]
    c = [
        int(np.clip(c - o, 0, (s.stop or n) - o - 1))
        for c, o, s, n in zip(center, lo, box, shape, strict=True)
    ]
    views0 = [plane_view(rows[0][1][0].data[box], affine, c, p) for p in _PLANES]
    widths = [v.image.shape[1] * v.col_mm for v in views0]
    heights = [v.image.shape[0] * v.row_mm for v in views0]
    scale = width_in / sum(widths)  # inches per mm, the same in every panel
    fg = "white" if facecolor == "black" else "black"
    head = 0.35 if title else 0.0
    foot = 0.35 if legend or colorbar else 0.0
    fig_h = len(rows) * (max(heights) * scale + 0.25) + head + foot
    fig, axes = plt.subplots(
        len(rows),
        3,
        figsize=(width_in, fig_h),
        squeeze=False,
        gridspec_kw={"width_ratios": widths},
    )
    fig.patch.set_facecolor(facecolor)
    mappable = None
    for r, (name, layers) in enumerate(rows):
        for k, plane in enumerate(_PLANES):
            ax = axes[r][k]
            view = None
            for layer in layers:
                v = plane_view(layer.data[box], affine, c, plane)
                view = view or v
                m = _draw(ax, layer, v.image, v.row_mm / v.col_mm)
                if layer.kind == "heat" and mappable is None:
                    mappable = m
            assert view is not None
            annotate(ax, view)
            ax.set_axis_off()
            ax.set_title(f"{name} · {plane}" if name else plane, color=fg, fontsize=10)
    if title:
        fig.suptitle(title, color=fg, fontsize=11)
    if legend:
        from matplotlib.lines import Line2D

        handles = [Line2D([0], [0], color=col, lw=3) for _, col in legend]
        fig.legend(
            handles,
            [t for t, _ in legend],
            loc="lower center",
            ncol=min(len(legend), 4),
            fontsize=9,
            frameon=False,
            labelcolor=fg,
        )
    # The colour bar gets its own strip right of the panels (never over the sagittal one).
    right = 0.9 if colorbar and mappable is not None else 1.0
    fig.tight_layout(rect=(0, foot / fig_h, right, 1 - head / fig_h))
    if colorbar and mappable is not None:
        bottom, top = axes[-1][-1].get_position().y0, axes[0][-1].get_position().y1
        cax = fig.add_axes((0.92, bottom, 0.015, top - bottom))
        cb = fig.colorbar(mappable, cax=cax)
        cb.set_label(colorbar, color=fg, fontsize=9)
        cb.ax.tick_params(colors=fg, labelsize=8)
    return to_png(fig, facecolor)


def seg_legend(labels: Sequence[int] = (1, 2, 4)) -> list[tuple[str, Any]]:
    return [(SEG_NAMES[lab], SEG_COLOURS[lab][:3]) for lab in labels]


def orthogonal_panel(
    volumes: dict[str, Volume],
    *,
    seg: Volume | None = None,
    mask: Volume | None = None,
    center: tuple[int, int, int] | None = None,
    title: str | None = None,
    legend: bool = True,
) -> bytes:
    """A grid: one row per volume, columns axial / coronal / sagittal through the tumour centre.

    Args:
        volumes: display name -> volume (all on one grid).
        seg: BraTS label volume drawn as coloured outlines on every row (the anatomy under
            them stays visible).
        mask: brain mask drawn as a cyan contour; the panels are cropped to it.
        center: voxel the three planes pass through (default: tumour centroid).
        legend: draw the overlay legend under the grid.
    """
    names = list(volumes)
    first = volumes[names[0]]
    c = center or center_of_interest(seg, mask, first.shape)
    mask_arr = None if mask is None else mask.data.astype(bool)
    rows = []
    for name in names:
        vol = volumes[name]
        vmin, vmax = display_range(vol.data, mask_arr)
        shown = vol.data.astype(np.float32)
        if mask_arr is not None and mask_arr.shape == shown.shape:
            shown = np.where(mask_arr, shown, vmin)  # background black, whatever the scaling
        layers = [Layer(shown, "gray", vmin, vmax)]
        if mask_arr is not None:
            layers.append(Layer(mask_arr.astype(np.float32), "contour", colour="cyan", width=0.6))
        if seg is not None:
            layers.append(Layer(seg.data.astype(np.int16), "labels", width=1.2))
        rows.append((name, layers))
    entries = seg_legend() if seg is not None else []
    if mask_arr is not None:
        entries.append(("brain mask", "cyan"))
    return slice_grid(
        rows,
        first.affine,
        center=c,
        crop=mask_arr if mask_arr is not None else (first.data != 0),
        title=title,
        legend=entries if legend else [],
    )
