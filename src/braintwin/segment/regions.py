"""BraTS labels <-> overlapping region channels (WT, TC, ET).

Networks predict the three nested evaluation regions as independent sigmoid channels (the
"region-based" training of the BraTS winners, e.g. Isensee et al. 2018 / Myronenko 2018), which
matches how BraTS is scored better than a softmax over labels 1/2/4. Labels are rebuilt with the
nesting ET ⊆ TC ⊆ WT enforced.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from braintwin.types.labels import Label

__all__ = ["REGION_ORDER", "keep_main_components", "labels_to_regions", "regions_to_labels"]

#: Channel order of region tensors.
REGION_ORDER: tuple[str, str, str] = ("WT", "TC", "ET")


def labels_to_regions(seg: np.ndarray) -> np.ndarray:
    """BraTS labels (X, Y, Z) -> boolean regions (3, X, Y, Z) in :data:`REGION_ORDER`."""
    wt = seg > 0
    tc = (seg == Label.NECROTIC) | (seg == Label.ENHANCING)
    et = seg == Label.ENHANCING
    return np.stack([wt, tc, et])


def regions_to_labels(regions: np.ndarray) -> np.ndarray:
    """Boolean regions (3, X, Y, Z) -> uint8 BraTS labels (X, Y, Z) with ET ⊆ TC ⊆ WT.

    A voxel is edema (2) if only WT, necrotic core (1) if TC but not ET, enhancing (4) if ET;
    TC or ET outside WT are dropped (the nesting is anatomical, so such voxels are noise).
    """
    wt = regions[0].astype(bool)
    tc = regions[1].astype(bool) & wt
    et = regions[2].astype(bool) & tc
    out = np.zeros(wt.shape, dtype=np.uint8)
    out[wt] = Label.EDEMA
    out[tc] = Label.NECROTIC
    out[et] = Label.ENHANCING
    return out


def keep_main_components(regions: np.ndarray, min_fraction: float = 0.1) -> np.ndarray:
    """Drop whole-tumour components smaller than ``min_fraction`` of the largest one.

    Small distant blobs are the typical false positives of a network at this data size;
    keeping only the main components is standard BraTS post-processing (e.g. Isensee et al.
    2018, arXiv:1809.10483). Components of at least 10 % of the largest are kept, so a
    multifocal tumour survives. TC and ET are restricted to the kept WT. Shape (3, X, Y, Z).
    """
    out = regions.astype(bool).copy()
    lab, n = ndimage.label(out[0], structure=np.ones((3, 3, 3)))
    if n <= 1:
        return out
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    keep = sizes >= min_fraction * sizes.max()
    keep[0] = False
    out &= keep[lab][None]
    return out
