"""Input guards: confinement of paths to a data folder, and sane fields of view for a visit."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from braintwin.errors import InputError
from braintwin.types import Modality, Volume

__all__ = ["check_fields_of_view", "safe_path"]

# Below this overlap (fraction of the smaller field of view) two images of one visit cannot
# show the same head: a wrong file or a broken header, not something registration can fix.
_MIN_FOV_OVERLAP = 0.25


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
