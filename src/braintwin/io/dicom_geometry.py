"""Slice geometry of a 2D DICOM series (PS3.3 C.7.6.2).

A pixel at column i, row j of a slice lies at ``IPP + i * dc * X + j * dr * Y`` (LPS, mm),
where X/Y are the two direction cosines of ImageOrientationPatient and (dr, dc) = PixelSpacing.
Slices are sorted along the normal X x Y; missing, duplicated or irregular positions, mixed
orientations, matrix sizes or spacings are refused with ``DicomSeriesError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from braintwin.errors import DicomSeriesError
from braintwin.io.nifti_header import MAX_VOXEL_MM, MIN_VOXEL_MM

__all__ = ["LPS_TO_RAS", "check_spacing", "slice_geometry"]

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_POS_TOL_MM = 0.01
_MAX_POSITION_MM = 1e5  # 100 m from the scanner's origin: a corrupt position


def _floats(ds: Any, keyword: str, n: int, index: int) -> np.ndarray:
    value = ds.get(keyword, None)
    try:
        arr = np.asarray([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if arr.shape != (n,) or not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > _MAX_POSITION_MM):
        raise DicomSeriesError(
            f"slice {index + 1} has no valid {keyword}",
            "this is not a 2D slice series with geometry",
        )
    return arr


def slice_geometry(datasets: list[Any]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Slice order along the normal, the LPS affine (4x4) and sorted positions (mm).

    (Matrix sizes and pixel formats are checked first, by ``dicom_pixels.pixel_format``.)"""
    iops = np.stack([_floats(ds, "ImageOrientationPatient", 6, i) for i, ds in enumerate(datasets)])
    if not np.allclose(iops, iops[0], atol=1e-4):
        raise DicomSeriesError(
            "slices have inconsistent orientations (ImageOrientationPatient differs)",
            "the folder holds more than one acquisition; split it by series",
        )
    spacings = np.stack([_floats(ds, "PixelSpacing", 2, i) for i, ds in enumerate(datasets)])
    if not np.allclose(spacings, spacings[0], atol=1e-4):
        raise DicomSeriesError("slices have different pixel spacings", "split the folder by series")
    ipps = np.stack([_floats(ds, "ImagePositionPatient", 3, i) for i, ds in enumerate(datasets)])
    x_dir, y_dir = iops[0, :3], iops[0, 3:]
    normal = np.cross(x_dir, y_dir)
    unit = np.isclose([np.linalg.norm(x_dir), np.linalg.norm(y_dir)], 1.0, atol=1e-3)
    if not (np.all(unit) and np.isclose(np.linalg.norm(normal), 1.0, atol=1e-3)):
        raise DicomSeriesError("ImageOrientationPatient is not two orthonormal directions")
    pos = ipps @ normal
    order = [int(i) for i in np.argsort(pos, kind="stable")]
    pos_sorted = pos[order]
    ipps = ipps[order]
    dr, dc = float(spacings[0, 0]), float(spacings[0, 1])
    _check_voxel_size("PixelSpacing", (dr, dc))
    n = len(datasets)
    if n > 1:
        check_spacing(pos_sorted)
        in_plane = (ipps - ipps[0]) - np.outer(pos_sorted - pos_sorted[0], normal)
        if np.max(np.abs(in_plane)) > 0.5 * min(dr, dc):
            raise DicomSeriesError(
                "slices are not stacked along one axis (tilted or shifted acquisition)",
                "resample it with `dcm2niix` (gantry-tilt correction) and ingest the NIfTI",
            )
        step = (ipps[-1] - ipps[0]) / (n - 1)
    else:
        thickness = _single_slice_thickness(datasets[0])
        step = normal * thickness
    _check_voxel_size("slice spacing", (float(np.linalg.norm(step)),))
    affine = np.eye(4)
    affine[:3, 0] = x_dir * dc
    affine[:3, 1] = y_dir * dr
    affine[:3, 2] = step
    affine[:3, 3] = ipps[0]
    return order, affine, pos_sorted


def _check_voxel_size(what: str, sizes: tuple[float, ...]) -> None:
    if any(not MIN_VOXEL_MM <= s <= MAX_VOXEL_MM for s in sizes):
        shown = ", ".join(f"{s:.3g}" for s in sizes)
        raise DicomSeriesError(
            f"implausible {what} of {shown} mm (expected {MIN_VOXEL_MM:g}-{MAX_VOXEL_MM:g} mm)",
            "the header is corrupt; re-export the series from the PACS",
        )


def _single_slice_thickness(ds: Any) -> float:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = ds.get(keyword, None)
        try:
            thickness = abs(float(value))
        except (TypeError, ValueError):
            continue
        if thickness > 0 and np.isfinite(thickness):
            return thickness
    return 1.0  # one slice without a thickness: any positive step gives the same voxels


def check_spacing(pos: np.ndarray) -> None:
    """Refuse duplicated, missing or irregular slice positions (``pos`` sorted, mm)."""
    gaps = np.diff(pos)
    if np.any(gaps < _POS_TOL_MM):
        dup = int(np.count_nonzero(gaps < _POS_TOL_MM))
        raise DicomSeriesError(
            f"{dup} slice position(s) occur more than once (several echoes, time points or a "
            "repeated acquisition in one series?)",
            "export one echo / time point per folder",
        )
    med = float(np.median(gaps))
    tol = max(0.1 * med, _POS_TOL_MM)
    missing: list[str] = []  # the first few, for the message
    n_missing = 0  # counted, never enumerated: a corrupt position can imply billions
    for k, gap in enumerate(gaps):
        if gap > 1.5 * med:
            count = round(gap / med) - 1
            n_missing += count
            for m in range(1, min(count, 5) + 1):
                missing.append(f"{pos[k] + m * med:.2f} mm (after slice {k + 1})")
        elif abs(gap - med) > tol:
            raise DicomSeriesError(
                f"irregular slice spacing: {gaps.min():.3f} to {gaps.max():.3f} mm "
                f"(median {med:.3f} mm)",
                "the series is incomplete or mixes acquisitions; re-export it",
            )
    if n_missing:
        raise DicomSeriesError(
            f"{n_missing} slice(s) missing from the series (spacing {med:.2f} mm): "
            f"position along the slice normal {', '.join(missing[:5])}"
            + (" …" if n_missing > 5 else ""),
            "re-export the complete series from the PACS",
        )
