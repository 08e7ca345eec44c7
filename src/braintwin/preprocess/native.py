"""Mapping results from the preprocessed grid back to a modality's native (scanner) grid.

``PreprocessedVisit.transforms`` is plain JSON (lists and numbers) so it can be stored beside
the visit; :func:`to_native` reads it. Layout::

    {"version": 1,
     "fixed": "t1ce",                        # the modality the visit was registered to
     "target": {"affine": 4x4, "shape": [nx, ny, nz]},   # the preprocessed grid
     "reference_matrix": 4x4 | null,         # this visit's world -> reference visit's world
     "modalities": {"t2": {"matrix": 4x4,    # native world (RAS mm) -> target world
                            "native_affine": 4x4, "native_shape": [..],
                            "method": "verified" | "rigid" | "header" | "fixed",
                            "metric": float | null}, ...}}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from braintwin.errors import InputError
from braintwin.types import Modality, Volume

__all__ = ["to_native"]


def to_native(
    vol: Volume, transforms: dict[str, Any], modality: Modality | str, *, order: int | None = None
) -> Volume:
    """Resample ``vol`` (on the preprocessed grid) onto ``modality``'s native grid.

    Args:
        vol: e.g. a segmentation (nearest neighbour, as ``vol.modality.is_label``) or a
            probability map on the grid of ``PreprocessedVisit.volumes``.
        transforms: ``PreprocessedVisit.transforms`` (possibly after a JSON round trip).
        modality: which input image's grid to return to.
        order: interpolation order as in :func:`braintwin.preprocess.resample`.

    Returns:
        ``vol`` on the native grid (native shape and affine, as the input image was given).
    """
    from braintwin.preprocess.geometry import apply_transform, grid_volume

    key = Modality(modality).value
    try:
        entry = transforms["modalities"][key]
        target = transforms["target"]
    except (KeyError, TypeError) as err:
        raise InputError(
            f"no transform recorded for modality {key!r}",
            "pass the transforms of the visit this image was preprocessed with",
        ) from err
    t_affine = np.asarray(target["affine"], float)
    if tuple(vol.shape) != tuple(target["shape"]) or not np.allclose(
        vol.affine, t_affine, atol=1e-3
    ):
        raise InputError(
            "the volume is not on the preprocessed grid of these transforms",
            "map back only results computed on PreprocessedVisit.volumes",
        )
    matrix = np.asarray(entry["matrix"], float)
    native = grid_volume(np.asarray(entry["native_affine"], float), entry["native_shape"])
    # matrix: native -> target world; pulling target values onto the native grid means
    # moving the target image by the inverse map.
    return apply_transform(vol, np.linalg.inv(matrix), native, order=order)
