"""BraTS label conventions and evaluation regions.

Labels (BraTS 2018): 0 background, 1 necrotic / non-enhancing tumour core, 2 peritumoral
edema, 4 GD-enhancing tumour. Regions: whole tumour WT = {1, 2, 4}, tumour core TC = {1, 4},
enhancing tumour ET = {4} (Menze et al. 2015; Bakas et al. 2018).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

import numpy as np

from braintwin.errors import InputError

__all__ = ["REGION_LABELS", "Label", "Region", "check_labels", "region_mask"]


class Label(IntEnum):
    BACKGROUND = 0
    NECROTIC = 1
    EDEMA = 2
    ENHANCING = 4


class Region(StrEnum):
    WT = "WT"  # whole tumour
    TC = "TC"  # tumour core
    ET = "ET"  # enhancing tumour
    EDEMA = "edema"
    NECROSIS = "necrosis"


REGION_LABELS: dict[Region, tuple[int, ...]] = {
    Region.WT: (1, 2, 4),
    Region.TC: (1, 4),
    Region.ET: (4,),
    Region.EDEMA: (2,),
    Region.NECROSIS: (1,),
}

_VALID = frozenset(int(v) for v in Label)


def check_labels(seg: np.ndarray) -> None:
    """Raise ``InputError`` unless ``seg`` holds only BraTS labels {0, 1, 2, 4}."""
    if seg.dtype.kind == "f" and not np.all(np.equal(np.mod(seg, 1), 0)):
        raise InputError("segmentation has non-integer labels", "labels must be 0, 1, 2 or 4")
    values = {int(v) for v in np.unique(seg)}
    bad = sorted(values - _VALID)
    if bad:
        raise InputError(
            f"segmentation has label value(s) {bad} outside the BraTS set {{0, 1, 2, 4}}",
            "relabel it (BraTS 2021+ uses 3 for enhancing: map 3 -> 4)",
        )


def region_mask(seg: np.ndarray, region: Region | str) -> np.ndarray:
    """Boolean mask of a tumour region in a BraTS label array."""
    return np.isin(seg, REGION_LABELS[Region(region)])
