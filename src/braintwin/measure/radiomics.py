"""Radiomics features per region with pyradiomics (the ``pyradiomics-bhklab`` build).

Settings and why:
- No resampling (``resampledPixelSpacing=None``): braintwin's preprocessed grids are 1 mm
  isotropic already, and resampling would change the shape features' voxel-count basis.
- Fixed bin *count* (32) rather than fixed bin width: MRI intensities are in arbitrary units
  that differ between scanners and visits, and fixed-bin-number discretisation gives the more
  reproducible MRI texture features (Duron et al. 2019, PLoS One 14:e0213459). Set
  ``bin_width`` to use a fixed width on calibrated (e.g. z-scored) intensities instead.
- 3D texture matrices with distance 1, symmetric GLCM (pyradiomics defaults; van Griethuysen
  et al. 2017, Cancer Res 77:e104).

Features are named ``<class>_<feature>``, e.g. ``shape_MeshVolume`` (mm³),
``firstorder_Mean`` (image units), ``glcm_Contrast``. Features pyradiomics returns as NaN (e.g.
undefined on a degenerate region) or as complex numbers are left out, never returned as NaN.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from braintwin.errors import InputError
from braintwin.types import Modality, Region, Volume, check_labels, region_mask

__all__ = [
    "FEATURE_CLASSES",
    "radiomics_features",
    "radiomics_table",
    "volume_to_sitk",
]

FEATURE_CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
_DEFAULT_CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm")
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def volume_to_sitk(vol: Volume, dtype: Any = None) -> Any:
    """A SimpleITK image of ``vol`` with identical world geometry (LPS, as ITK uses).

    ``Volume.data`` is indexed (i, j, k); SimpleITK arrays are (k, j, i), hence the transpose.
    The RAS+ affine becomes ITK's LPS origin/direction by negating the first two world axes.
    """
    import SimpleITK as sitk

    arr = vol.data if dtype is None else vol.data.astype(dtype)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    img = sitk.GetImageFromArray(np.ascontiguousarray(arr.transpose(2, 1, 0)))
    rot = _RAS_TO_LPS @ vol.affine[:3, :3]
    spacing = np.linalg.norm(rot, axis=0)
    img.SetSpacing([float(s) for s in spacing])
    img.SetDirection([float(x) for x in (rot / spacing).ravel()])
    img.SetOrigin([float(x) for x in _RAS_TO_LPS @ vol.affine[:3, 3]])
    return img


def _extractor(classes: Sequence[str], bin_count: int | None, bin_width: float | None) -> Any:
    from radiomics import featureextractor, setVerbosity

    setVerbosity(logging.ERROR)  # pyradiomics logs every feature at INFO; stages never print
    bad = sorted(set(classes) - set(FEATURE_CLASSES))
    if bad or not classes:
        raise InputError(
            f"unknown radiomics feature class(es) {bad}", f"choose from {list(FEATURE_CLASSES)}"
        )
    if (bin_count is None) == (bin_width is None):
        raise InputError("give exactly one of bin_count and bin_width")
    settings: dict[str, Any] = {
        "resampledPixelSpacing": None,
        "label": 1,
        "additionalInfo": False,
        "force2D": False,
    }
    if bin_width is not None:
        if bin_width <= 0:
            raise InputError(f"bin_width must be > 0, got {bin_width}")
        settings["binWidth"] = float(bin_width)
    else:
        if bin_count is None or bin_count < 2:
            raise InputError(f"bin_count must be >= 2, got {bin_count}")
        settings["binCount"] = int(bin_count)
    ext = featureextractor.RadiomicsFeatureExtractor(**settings)
    ext.disableAllFeatures()
    for c in classes:
        ext.enableFeatureClassByName(c)
    return ext


def radiomics_features(
    image: Volume,
    mask: Volume,
    classes: Sequence[str] = _DEFAULT_CLASSES,
    *,
    bin_count: int | None = 32,
    bin_width: float | None = None,
) -> dict[str, float]:
    """Radiomics features of ``image`` inside ``mask``.

    Args:
        image: intensity Volume (nx, ny, nz).
        mask: Volume on the same grid; voxels != 0 are the region.
        classes: pyradiomics feature classes (see ``FEATURE_CLASSES``).
        bin_count: fixed number of grey-level bins (default 32); None to use ``bin_width``.
        bin_width: fixed bin width in image units (then pass ``bin_count=None``).

    Returns:
        feature name -> value (shape features in mm / mm² / mm³).

    Raises:
        InputError: grids differ, the region is empty or too small for pyradiomics.
    """
    if not image.same_grid(mask):
        raise InputError(
            "image and mask are not on the same grid",
            "resample the mask onto the image grid (nearest neighbour) first",
        )
    binary = np.asarray(mask.data) != 0
    n = int(binary.sum())
    if n == 0:
        raise InputError("the radiomics mask is empty", "measure a region that is present")
    ext = _extractor(classes, bin_count, bin_width)
    img = volume_to_sitk(image, np.float32)
    msk = volume_to_sitk(mask.with_data(binary.astype(np.uint8)))
    try:
        raw = ext.execute(img, msk)
    except ValueError as exc:  # pyradiomics raises ValueError for too-small/flat ROIs
        raise InputError(f"radiomics failed on a {n}-voxel region: {exc}") from exc
    out: dict[str, float] = {}
    for key, value in raw.items():
        if not key.startswith("original_"):
            continue
        arr = np.asarray(value)
        if arr.dtype.kind == "c":
            # pyradiomics returns complex numbers for some GLCM features of a flat region
            # (a square root of a negative rounding residue); keep only real values.
            if abs(float(arr.imag)) > 1e-9:
                continue
            arr = arr.real
        v = float(arr)
        if math.isfinite(v):
            out[key.removeprefix("original_")] = v
    return out


def radiomics_table(
    volumes: Mapping[Modality, Volume] | Mapping[str, Volume],
    seg: Volume,
    regions: Sequence[Region | str] = (Region.WT, Region.TC, Region.ET),
    classes: Sequence[str] = _DEFAULT_CLASSES,
    *,
    bin_count: int | None = 32,
    bin_width: float | None = None,
) -> list[dict[str, Any]]:
    """One row per (modality, region) with that region's radiomics features.

    Shape features do not depend on the image, so they are computed once per region and
    repeated in its rows. Empty regions are skipped (no row). Export with
    :func:`braintwin.measure.tables.write_table`.

    Args:
        volumes: modality -> intensity Volume, all on the grid of ``seg``.
        seg: BraTS label Volume (0/1/2/4).
        regions: tumour regions to describe.
        classes, bin_count, bin_width: as for :func:`radiomics_features`.

    Returns:
        rows ``{"modality": str, "region": str, "voxel_count": int, <feature>: float, ...}``.
    """
    check_labels(seg.data)
    texture = [c for c in classes if c != "shape"]
    rows: list[dict[str, Any]] = []
    for region in regions:
        name = Region(region).value
        m = region_mask(seg.data, region)
        if not m.any():
            continue
        mask = seg.with_data(m.astype(np.uint8), Modality.MASK)
        shape: dict[str, float] = {}
        for mod, vol in volumes.items():
            if "shape" in classes and not shape:
                shape = radiomics_features(
                    vol, mask, ("shape",), bin_count=bin_count, bin_width=bin_width
                )
            feats = (
                radiomics_features(vol, mask, texture, bin_count=bin_count, bin_width=bin_width)
                if texture
                else {}
            )
            mod_name = mod.value if isinstance(mod, Modality) else str(mod)
            rows.append(
                {
                    "modality": mod_name,
                    "region": name,
                    "voxel_count": int(m.sum()),
                    **shape,
                    **feats,
                }
            )
    return rows
