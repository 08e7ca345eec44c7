"""Slice geometry and pixel stacking for a 2D DICOM series (PS3.3 C.7.6.2).

A pixel at column i, row j of a slice lies at ``IPP + i * dc * X + j * dr * Y`` (LPS, mm),
where X/Y are the two direction cosines of ImageOrientationPatient and (dr, dc) = PixelSpacing.
Slices are sorted along the normal X x Y; missing, duplicated or irregular positions, mixed
orientations, matrix sizes or spacings are refused with ``DicomSeriesError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from braintwin.errors import DicomSeriesError

__all__ = [
    "LPS_TO_RAS",
    "PixelDecodeError",
    "check_spacing",
    "slice_geometry",
    "stack_pixels",
]

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_POS_TOL_MM = 0.01


class PixelDecodeError(DicomSeriesError):
    """Compressed pixel data that no installed Python decoder can read (dcm2niix may)."""


def _floats(ds: Any, keyword: str, n: int, index: int) -> np.ndarray:
    value = ds.get(keyword, None)
    try:
        arr = np.asarray([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise DicomSeriesError(
            f"slice {index + 1} has no valid {keyword}",
            "this is not a 2D slice series with geometry",
        )
    return arr


def slice_geometry(datasets: list[Any]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Slice order along the normal, the LPS affine (4x4) and sorted positions (mm)."""
    rows = {int(ds.Rows) for ds in datasets}
    cols = {int(ds.Columns) for ds in datasets}
    if len(rows) > 1 or len(cols) > 1:
        raise DicomSeriesError(
            f"slices have different matrix sizes (rows {sorted(rows)}, columns {sorted(cols)})",
            "the folder holds more than one acquisition; split it by series",
        )
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
    if not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-3):
        raise DicomSeriesError("ImageOrientationPatient is not two orthonormal directions")
    pos = ipps @ normal
    order = [int(i) for i in np.argsort(pos, kind="stable")]
    pos_sorted = pos[order]
    ipps = ipps[order]
    dr, dc = float(spacings[0, 0]), float(spacings[0, 1])
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
        thickness = float(datasets[0].get("SpacingBetweenSlices", 0) or 0) or float(
            datasets[0].get("SliceThickness", 1) or 1
        )
        step = normal * thickness
    affine = np.eye(4)
    affine[:3, 0] = x_dir * dc
    affine[:3, 1] = y_dir * dr
    affine[:3, 2] = step
    affine[:3, 3] = ipps[0]
    return order, affine, pos_sorted


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
    missing: list[str] = []
    for k, gap in enumerate(gaps):
        if gap > 1.5 * med:
            n_missing = round(gap / med) - 1
            for m in range(1, n_missing + 1):
                missing.append(f"{pos[k] + m * med:.2f} mm (after slice {k + 1})")
        elif abs(gap - med) > tol:
            raise DicomSeriesError(
                f"irregular slice spacing: {gaps.min():.3f} to {gaps.max():.3f} mm "
                f"(median {med:.3f} mm)",
                "the series is incomplete or mixes acquisitions; re-export it",
            )
    if missing:
        raise DicomSeriesError(
            f"{len(missing)} slice(s) missing from the series (spacing {med:.2f} mm): "
            f"position along the slice normal {', '.join(missing[:5])}"
            + (" …" if len(missing) > 5 else ""),
            "re-export the complete series from the PACS",
        )


def stack_pixels(datasets: list[Any], order: list[int]) -> np.ndarray:
    """Pixel arrays in slice order as one (columns, rows, slices) array, rescaled.

    RescaleSlope/RescaleIntercept are applied per slice (they may differ between slices); the
    result is float32 when any slice is rescaled, else the stored integer type.
    """
    slices = []
    scaled = False
    for idx in order:
        ds = datasets[idx]
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        try:
            px = ds.pixel_array
        except Exception as err:  # pydicom raises many types for missing decoders / bad data
            if ts is not None and ts.is_compressed:
                raise PixelDecodeError(
                    f"cannot decode compressed pixel data ({ts.name}): {type(err).__name__}",
                    "convert the series with `dcm2niix`",
                ) from err
            raise DicomSeriesError(
                f"cannot read the pixel data of a slice ({type(err).__name__}); the file may be "
                "truncated",
                "re-export the series from the PACS",
            ) from err
        if px.shape != (int(ds.Rows), int(ds.Columns)):
            raise DicomSeriesError(
                f"a slice's pixel data has shape {px.shape}, not Rows x Columns "
                f"({ds.Rows} x {ds.Columns})",
                "re-export the series from the PACS",
            )
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        if slope != 1.0 or intercept != 0.0:
            scaled = True
            px = px.astype(np.float32) * np.float32(slope) + np.float32(intercept)
        slices.append(px.T)  # pixel_array is (rows=j, columns=i); the volume is indexed (i, j)
    if scaled:
        slices = [s.astype(np.float32) for s in slices]
    return np.stack(slices, axis=-1)
