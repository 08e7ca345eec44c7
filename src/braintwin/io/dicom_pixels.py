"""Pixel format checks and bounded pixel stacking for a 2D DICOM series.

Before any pixel is decoded, every slice must declare the same matrix (Rows x Columns), the
same sample format (BitsAllocated, PixelRepresentation, one sample per pixel) and the same,
known transfer syntax; the whole series' declared size goes through
:func:`braintwin.io.limits.check_declared`. Decoding then fills one preallocated array, slice
by slice, releasing each slice's pixel bytes as it goes, so resident memory stays near the
volume's own size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from braintwin.errors import DicomSeriesError
from braintwin.io.limits import check_declared

__all__ = ["PixelDecodeError", "PixelFormat", "int_tag", "pixel_format", "stack_pixels"]

_HINT = "re-export the series from the PACS"
_SPLIT = "the folder holds more than one acquisition; split it by series"


class PixelDecodeError(DicomSeriesError):
    """Compressed pixel data that no installed Python decoder can read (dcm2niix may)."""


@dataclass(frozen=True)
class PixelFormat:
    """The shared pixel layout of a series' slices (validated)."""

    rows: int
    columns: int
    frames: int
    bits: int
    signed: bool
    compressed: bool
    scaled: bool

    @property
    def out_dtype(self) -> np.dtype[Any]:
        if self.scaled:
            return np.dtype(np.float32)
        return np.dtype(f"{'i' if self.signed else 'u'}{max(self.bits // 8, 1)}")


def int_tag(ds: Any, keyword: str, index: int, default: int | None = None) -> int:
    """An integer attribute of slice ``index``; ``DicomSeriesError`` when absent or invalid."""
    value = ds.get(keyword, None)
    if value is None or value == "":
        if default is not None:
            return default
        raise DicomSeriesError(f"slice {index + 1} has no {keyword}", _HINT)
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise DicomSeriesError(f"slice {index + 1} has an invalid {keyword}", _HINT) from None
    return number


def _float_tag(ds: Any, keyword: str, default: float) -> float:
    value = ds.get(keyword, None)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DicomSeriesError(f"a slice has an invalid {keyword}", _HINT) from None
    if not math.isfinite(number):
        raise DicomSeriesError(f"a slice has a non-finite {keyword}", _HINT)
    return number


def _transfer_syntax(ds: Any, index: int) -> Any:
    from pydicom.uid import UID

    meta = getattr(ds, "file_meta", None)
    raw = meta.get("TransferSyntaxUID", None) if meta is not None else None
    if raw is None or str(raw).strip() == "":
        raise DicomSeriesError(f"slice {index + 1} has no transfer syntax in its file meta", _HINT)
    uid = UID(str(raw).strip())
    if not uid.is_transfer_syntax:
        raise DicomSeriesError(f"slice {index + 1} has an unknown transfer syntax UID", _HINT)
    return uid


def pixel_format(datasets: list[Any], what: str) -> PixelFormat:
    """Check that all slices share one pixel format and that the series fits the limits."""
    formats = set()
    syntaxes = set()
    scaled = False
    for i, ds in enumerate(datasets):
        rows, cols = int_tag(ds, "Rows", i), int_tag(ds, "Columns", i)
        bits = int_tag(ds, "BitsAllocated", i)
        signed = int_tag(ds, "PixelRepresentation", i, default=0)
        samples = int_tag(ds, "SamplesPerPixel", i, default=1)
        frames = int_tag(ds, "NumberOfFrames", i, default=1)
        if min(rows, cols, frames) < 1:
            raise DicomSeriesError(f"slice {i + 1} declares an empty image", _HINT)
        if bits not in (8, 16, 32) or signed not in (0, 1):
            raise DicomSeriesError(
                f"slice {i + 1} has an unsupported pixel format (BitsAllocated {bits}, "
                f"PixelRepresentation {signed})",
                _HINT,
            )
        if samples != 1:
            raise DicomSeriesError("colour (RGB) DICOM images are not MRI intensity data")
        formats.add((rows, cols, frames, bits, signed))
        syntaxes.add(_transfer_syntax(ds, i))
        slope = _float_tag(ds, "RescaleSlope", 1.0)
        inter = _float_tag(ds, "RescaleIntercept", 0.0)
        scaled = scaled or slope != 1.0 or inter != 0.0
    if len({f[:2] for f in formats}) > 1:
        rows_seen = sorted({f[0] for f in formats})
        cols_seen = sorted({f[1] for f in formats})
        raise DicomSeriesError(
            f"slices have different matrix sizes (rows {rows_seen}, columns {cols_seen})", _SPLIT
        )
    if len(formats) > 1:
        raise DicomSeriesError(
            "slices store pixels differently (BitsAllocated, PixelRepresentation or "
            "NumberOfFrames differ)",
            _SPLIT,
        )
    if len(syntaxes) > 1:
        raise DicomSeriesError(
            f"slices use {len(syntaxes)} different transfer syntaxes", "re-export the series"
        )
    rows, cols, frames, bits, signed = formats.pop()
    ts = syntaxes.pop()
    fmt = PixelFormat(rows, cols, frames, bits, bool(signed), bool(ts.is_compressed), scaled)
    n = len(datasets) * frames
    check_declared(what, n * rows * cols * fmt.out_dtype.itemsize)
    return fmt


def _decode(ds: Any) -> np.ndarray:
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        return np.asarray(ds.pixel_array)
    except MemoryError:
        raise
    except Exception as err:  # pydicom raises many types for missing decoders / bad data
        from pydicom.uid import UID

        if ts is not None and UID(str(ts)).is_compressed:
            raise PixelDecodeError(
                f"cannot decode compressed pixel data ({UID(str(ts)).name}): {type(err).__name__}",
                "convert the series with `dcm2niix`",
            ) from err
        raise DicomSeriesError(
            f"cannot read the pixel data of a slice ({type(err).__name__}); the file may be "
            "truncated",
            _HINT,
        ) from err


def stack_pixels(datasets: list[Any], order: list[int], fmt: PixelFormat) -> np.ndarray:
    """Pixel arrays in slice order as one (columns, rows, slices) array, rescaled.

    RescaleSlope/RescaleIntercept are applied per slice (they may differ between slices); the
    result is float32 when any slice is rescaled, else the stored integer type. Each dataset's
    pixel data is released once copied (the datasets lose their ``PixelData``).
    """
    out = np.empty((fmt.columns, fmt.rows, len(order)), dtype=fmt.out_dtype)
    for k, idx in enumerate(order):
        ds = datasets[idx]
        px = _decode(ds)
        if px.shape != (fmt.rows, fmt.columns):
            raise DicomSeriesError(
                f"a slice's pixel data has shape {px.shape}, not Rows x Columns "
                f"({fmt.rows} x {fmt.columns})",
                _HINT,
            )
        if fmt.scaled:
            slope = _float_tag(ds, "RescaleSlope", 1.0)
            inter = _float_tag(ds, "RescaleIntercept", 0.0)
            out[:, :, k] = (px.astype(np.float32) * np.float32(slope) + np.float32(inter)).T
        else:
            out[:, :, k] = px.T  # pixel_array is (rows=j, columns=i); the volume is (i, j)
        if "PixelData" in ds:
            del ds.PixelData  # frees the bytes and pydicom's cached array
    if fmt.scaled and not np.all(np.isfinite(out)):
        raise DicomSeriesError("RescaleSlope/RescaleIntercept give non-finite values", _HINT)
    return out
