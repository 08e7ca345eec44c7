"""Input guards: confinement of paths to a data folder, and sane fields of view for a visit.

A visit's images must be able to show a head: a header whose voxel size disagrees with its
matrix (e.g. 256 x 256 x 24 voxels labelled 1 mm isotropic: a 24 mm slab, when the real slices
are ~5 mm thick) would make every volume and growth rate wrong without a word. Such images are
refused with the override that fixes them (``--spacing X,Y,Z``), never repaired silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from braintwin.errors import InputError
from braintwin.types import Modality, Volume

__all__ = ["check_fields_of_view", "check_head_extent", "safe_path"]

# Below this overlap (fraction of the smaller field of view) two images of one visit cannot
# show the same head: a wrong file or a broken header, not something registration can fix.
_MIN_FOV_OVERLAP = 0.25
# Field-of-view extents (mm) a head image can have. An adult head is ~140 x 180 x 200 mm;
# clinical stacks cover at least ~100 mm through-plane; cropped research volumes are smaller
# but never a thin slab of a whole-head field of view.
_MIN_HEAD_MM = 40.0  # the largest extent of any image, and the thinnest of a wide one
_WIDE_FOV_MM = 150.0  # an in-plane field of view this wide covers a whole head
_MAX_HEAD_MM = 400.0
_SPACING_HINT = (
    "if the header's voxel size is wrong, give the true one with --spacing X,Y,Z (mm), "
    "e.g. --spacing 0.9,0.9,5 for a 24-slice clinical stack"
)


def safe_path(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """``path`` resolved (symlinks followed) if it lies inside ``root``, else ``InputError``."""
    resolved = Path(path).resolve()
    base = Path(root).resolve()
    if not resolved.is_relative_to(base):
        raise InputError(
            "path escapes the data folder",
            f"give a path inside {base}; symbolic links are resolved before checking",
        )
    return resolved


def _bounds(vol: Volume) -> tuple[np.ndarray, np.ndarray]:
    corners = np.array([[i, j, k] for i in (-0.5, vol.shape[0] - 0.5) for j in (-0.5, vol.shape[1] - 0.5)
                        for k in (-0.5, vol.shape[2] - 0.5)])  # fmt: skip
    world = vol.index_to_world(corners)
    return world.min(axis=0), world.max(axis=0)


def check_fields_of_view(volumes: dict[Modality, Volume]) -> None:
    """Refuse images of one visit whose world bounding boxes (mm) barely overlap."""
    items = list(volumes.items())
    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            (ma, va), (mb, vb) = items[a], items[b]
            lo_a, hi_a = _bounds(va)
            lo_b, hi_b = _bounds(vb)
            inter = np.prod(np.clip(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b), 0, None))
            smaller = min(np.prod(hi_a - lo_a), np.prod(hi_b - lo_b))
            if inter < _MIN_FOV_OVERLAP * smaller:
                raise InputError(
                    f"{ma.value} and {mb.value} cover different regions of space "
                    f"({100 * inter / smaller:.0f}% overlap of the smaller field of view)",
                    "check that both files belong to the same visit and have correct headers",
                )


def _describe(vol: Volume, extents: np.ndarray) -> str:
    shape = "x".join(str(n) for n in vol.shape)
    sp = "x".join(f"{v:.3g}" for v in vol.spacing)
    ext = " x ".join(f"{e:.0f}" for e in extents)
    return f"{shape} voxels of {sp} mm span {ext} mm"


def check_head_extent(volumes: dict[Modality, Volume], overridden: bool = False) -> None:
    """Refuse images whose field of view (matrix x voxel size, mm) cannot show a head.

    Args:
        volumes: the MRI volumes of one visit (after any ``--spacing`` override).
        overridden: whether the voxel sizes come from the user's ``--spacing``; the message
            then asks to check that value rather than the header.
    """
    source = "the given --spacing" if overridden else "the header's voxel size"
    for m, vol in volumes.items():
        extents = np.asarray(vol.shape, dtype=float) * np.asarray(vol.spacing)
        thin, wide = float(extents.min()), float(extents.max())
        if wide > _MAX_HEAD_MM:
            problem = f"larger than any head (over {_MAX_HEAD_MM:.0f} mm)"
        elif wide < _MIN_HEAD_MM:
            problem = f"smaller than any head (under {_MIN_HEAD_MM:.0f} mm)"
        elif wide >= _WIDE_FOV_MM and thin < _MIN_HEAD_MM:
            problem = (
                f"a {thin:.0f} mm slab of a {wide:.0f} mm field of view, too thin for a head "
                f"scan ({source} is probably wrong)"
            )
        else:
            continue
        raise InputError(
            f"{m.value}: implausible geometry: {_describe(vol, extents)}, {problem}",
            _SPACING_HINT,
        )
