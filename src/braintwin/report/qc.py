"""Registration check of a follow-up visit against the first visit, as pictures.

The twin registers every follow-up onto the first visit's grid (rigid) before it compares
them; a reader should be able to see that it worked. Two rows through the follow-up's tumour
centre: a checkerboard alternating tiles of the two visits (edges must run on across tile
borders), and the follow-up with the first visit's brain outline and tumour outline on top (the
brain outline must hug the follow-up's brain).
"""

from __future__ import annotations

import numpy as np

from braintwin.report.document import Block, Figure, Paragraph
from braintwin.report.figures import Layer, center_of_interest, display_range, slice_grid
from braintwin.types import Modality, Visit, Volume

__all__ = ["checkerboard", "registration_qc"]


def checkerboard(a: np.ndarray, b: np.ndarray, tiles: int = 8) -> np.ndarray:
    """``a`` and ``b`` (same shape) in alternating cubic tiles, ``tiles`` across the largest
    axis; tile (0, 0, 0) comes from ``a``."""
    if a.shape != b.shape:
        raise ValueError(f"checkerboard needs one grid, got {a.shape} and {b.shape}")
    size = max(1, int(np.ceil(max(a.shape) / tiles)))
    i, j, k = ((np.arange(n) // size % 2).astype(np.uint8) for n in a.shape)
    odd = (i[:, None, None] ^ j[None, :, None] ^ k[None, None, :]).astype(bool)  # 1 byte/voxel
    return np.where(odd, b, a)


def _image(visit: Visit) -> tuple[str, Volume] | None:
    for m in (Modality.T1CE, Modality.FLAIR, Modality.T1, Modality.T2):
        if m in visit.volumes:
            return m.value.upper(), visit.volumes[m]
    return None


def _normalised(vol: Volume, mask: np.ndarray | None) -> np.ndarray:
    """Intensities mapped to 0–1 by the visit's own window, so tiles of two visits compare."""
    lo, hi = display_range(vol.data, mask)
    return np.clip((vol.data.astype(np.float32) - lo) / (hi - lo), 0, 1)


def _motion(visit: Visit, vol: Volume) -> str:
    from braintwin.preprocess.registration import transform_magnitude

    matrix = visit.meta.get("transforms", {}).get("reference_matrix")
    if matrix is None:
        return ""
    shift, angle = transform_magnitude(np.asarray(matrix, float), vol)
    return (
        f" Rigid registration moved this visit by {shift:.1f} mm (RMS over the brain) "
        f"and {angle:.1f}° onto the first visit."
    )


def registration_qc(baseline: Visit, follow_up: Visit) -> list[Block] | None:
    """Blocks showing how well ``follow_up`` sits on ``baseline``; None without images."""
    first, later = _image(baseline), _image(follow_up)
    if first is None or later is None:
        return None
    (name0, v0), (name1, v1) = first, later
    if not v0.same_grid(v1):
        return [
            Paragraph(
                "The two visits are not stored on one grid, so no overlay can be drawn.",
                muted=True,
            )
        ]
    m0 = baseline.brain_mask.data.astype(bool) if baseline.brain_mask is not None else None
    m1 = follow_up.brain_mask.data.astype(bool) if follow_up.brain_mask is not None else None
    a, b = _normalised(v0, m0), _normalised(v1, m1)
    # Outside each visit's brain, black: the tiles then show brain against brain only.
    if m0 is not None and m0.shape == a.shape:
        a = np.where(m0, a, 0.0)
    if m1 is not None and m1.shape == b.shape:
        b = np.where(m1, b, 0.0)
    c = center_of_interest(follow_up.segmentation, follow_up.brain_mask, v1.shape)
    crop = m1 if m1 is not None else (v1.data != 0)
    later_layers = [Layer(b, "gray", 0, 1)]
    legend: list[tuple[str, str]] = []
    if m0 is not None:
        later_layers.append(Layer(m0.astype(np.float32), "contour", colour="cyan", width=1.0))
        legend.append(("first visit: brain outline", "cyan"))
    if baseline.segmentation is not None:
        tumour0 = (baseline.segmentation.data > 0).astype(np.float32)
        later_layers.append(Layer(tumour0, "contour", colour="magenta", width=1.0))
        legend.append(("first visit: tumour outline", "magenta"))
    png = slice_grid(
        [
            ("checkerboard", [Layer(checkerboard(a, b), "gray", 0, 1)]),
            (f"{name1} + first visit outlines", later_layers),
        ],
        v1.affine,
        center=c,
        crop=crop,
        legend=legend,
    )
    text = (
        f"{name0} of the first visit ({baseline.date}) and {name1} of this visit "
        f"({follow_up.date}). Top: tiles alternate between the first visit and this one; anatomical edges "
        "(ventricles, skull base, cortex) should run on across tile borders. Bottom: this "
        "visit with the first visit's brain outline (cyan) and tumour outline (magenta); the "
        "outline should hug this visit's brain." + _motion(follow_up, v1)
    )
    return [Figure(png, "registration check", text)]
