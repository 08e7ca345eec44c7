"""Report figures: orthogonal slices of volumes with mask and segmentation overlays.

Figures are returned as PNG bytes so the HTML report can embed them and stay one file.
Arrays are assumed RAS-oriented (preprocessing guarantees it); slices are displayed in the
radiological convention's usual orientation (anterior up in axial, superior up otherwise).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from braintwin.types import Volume

__all__ = ["SEG_COLOURS", "center_of_interest", "orthogonal_panel", "to_png"]

# label -> RGBA (necrosis red, edema green, enhancing yellow: the usual BraTS palette)
SEG_COLOURS: dict[int, tuple[float, float, float, float]] = {
    1: (0.9, 0.1, 0.1, 0.55),
    2: (0.1, 0.8, 0.2, 0.40),
    4: (1.0, 0.85, 0.0, 0.60),
}


def to_png(fig: object, facecolor: str = "black") -> bytes:
    """Render a matplotlib figure to PNG bytes and close it (black suits MRI panels)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight", facecolor=facecolor)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return buf.getvalue()


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


def _slices(arr: np.ndarray, c: tuple[int, int, int]) -> list[np.ndarray]:
    # Transpose so rows run along the vertical world axis and flip so it points up.
    return [
        np.flipud(arr[:, :, c[2]].T),  # axial (x right, y anterior up)
        np.flipud(arr[:, c[1], :].T),  # coronal (x, z up)
        np.flipud(arr[c[0], :, :].T),  # sagittal (y, z up)
    ]


def _display_range(data: np.ndarray, mask: np.ndarray | None) -> tuple[float, float]:
    sample = data[mask] if mask is not None and mask.any() else data[data != 0]
    if sample.size == 0:
        return (0.0, 1.0)
    lo, hi = np.percentile(sample, [0.5, 99.5])
    return (float(lo), float(hi if hi > lo else lo + 1))


def orthogonal_panel(
    volumes: dict[str, Volume],
    *,
    seg: Volume | None = None,
    mask: Volume | None = None,
    center: tuple[int, int, int] | None = None,
    title: str | None = None,
) -> bytes:
    """A grid: one row per volume, columns axial / coronal / sagittal, overlays optional.

    Args:
        volumes: display name -> volume (all on one grid).
        seg: BraTS label volume drawn as coloured overlay on every row.
        mask: brain mask drawn as a contour.
        center: voxel the three planes pass through (default: tumour centroid).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    names = list(volumes)
    first = volumes[names[0]]
    c = center or center_of_interest(seg, mask, first.shape)
    mask_arr = None if mask is None else mask.data.astype(bool)
    fig, axes = plt.subplots(len(names), 3, figsize=(9, 3.0 * len(names)), squeeze=False)
    fig.patch.set_facecolor("black")
    seg_cmap = None
    if seg is not None:
        lut = np.zeros((5, 4))
        for label, rgba in SEG_COLOURS.items():
            lut[label] = rgba
        seg_cmap = ListedColormap(lut)
    for r, name in enumerate(names):
        vol = volumes[name]
        vmin, vmax = _display_range(vol.data, mask_arr)
        shown = vol.data.astype(np.float32)
        if mask_arr is not None and mask_arr.shape == shown.shape:
            shown = np.where(mask_arr, shown, vmin)  # background black, whatever the scaling
        planes = _slices(shown, c)
        seg_planes = _slices(seg.data.astype(np.int16), c) if seg is not None else None
        mask_planes = _slices(mask_arr.astype(np.float32), c) if mask_arr is not None else None
        for k, plane in enumerate(("axial", "coronal", "sagittal")):
            ax = axes[r][k]
            ax.imshow(planes[k], cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
            if mask_planes is not None:
                ax.contour(mask_planes[k], levels=[0.5], colors="cyan", linewidths=0.6)
            if seg_planes is not None and seg_cmap is not None:
                overlay = np.ma.masked_where(seg_planes[k] == 0, np.clip(seg_planes[k], 0, 4))
                ax.imshow(overlay, cmap=seg_cmap, vmin=0, vmax=4, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(f"{name} · {plane}", color="white", fontsize=9)
    if title:
        fig.suptitle(title, color="white")
    return to_png(fig)
