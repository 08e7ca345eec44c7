"""Display renditions of stored volumes: what the viewer downloads instead of the float32 file.

A stored volume is float32 NIfTI (a 240×240×155 image is 36 MB before compression). The
viewer needs the picture and a read-out in real units, not the last bits of a float, so it
gets a rendition: floats quantised to int16 with ``scl_slope`` (zero kept exact, so the
background stays background), integer label maps as uint8, written as raw NIfTI and
gzip-compressed once. The browser inflates it natively (``Content-Encoding: gzip``), and
the rendition is cached on disk under the source's content hash, so it is built once.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

__all__ = ["OUTSIDE", "RENDITION_VERSION", "display_rendition", "display_window", "quantise"]

RENDITION_VERSION = "d3"  # part of the cache key and the ETag: bump when the format changes
_INT16_MAX = 32767
OUTSIDE = -32768  # stored value of the background of z-scored images (see quantise)
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def quantise(data: np.ndarray) -> tuple[np.ndarray, float]:
    """(stored integers, slope): real value = stored × slope. Integer-valued data in 0‥255
    stays exact as uint8; anything else is int16 with the largest magnitude at ±32767.

    Z-scored images (negative values) keep their background at exactly 0, which a grey
    window would paint mid-grey: when more than a tenth of such an image is exactly 0, those
    voxels are stored as :data:`OUTSIDE` (-32768, below any window: black), and the viewer
    reads them out as "outside the brain", not as a number."""
    finite = np.nan_to_num(np.asarray(data, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if lo >= 0 and hi <= 255 and np.array_equal(finite, np.round(finite)):
        return finite.astype(np.uint8), 1.0
    peak = max(abs(lo), abs(hi))
    slope = peak / _INT16_MAX if peak > 0 else 1.0
    out = np.round(finite / slope).astype(np.int16)
    zero = finite == 0
    if lo < 0 and zero.mean() > 0.1:
        out[zero] = OUTSIDE
    return out, slope


def display_window(data: np.ndarray, slope: float) -> tuple[float, float]:
    """The initial window in real units: labels 0‥max; images the 0.5–99.5 percentiles of
    the non-zero voxels (the viewer then skips its own pass over ~9 M voxels)."""
    if data.dtype == np.uint8:
        return 0.0, float(max(int(data.max(initial=0)), 1))
    inside = data[(data != 0) & (data != OUTSIDE)]
    if inside.size == 0:
        return 0.0, 1.0
    step = max(1, inside.size // 500_000)  # a systematic sample is plenty for a window
    lo, hi = np.percentile(inside[::step], [0.5, 99.5])
    if hi <= lo:
        hi = lo + 1
    return float(lo) * slope, float(hi) * slope


def _write_rendition(src: Path, out: Path) -> None:
    img: Any = nib.load(str(src))
    data, slope = quantise(np.asanyarray(img.dataobj))
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(data.dtype)
    new = nib.Nifti1Image(data, img.affine, hdr)
    new.set_qform(img.affine, code=1)
    new.set_sform(img.affine, code=1)
    new.header.set_xyzt_units("mm", "sec")
    new.header.set_slope_inter(slope if data.dtype != np.uint8 else 1.0, 0.0)
    lo, hi = display_window(data, slope)
    new.header["cal_min"], new.header["cal_max"] = lo, hi
    raw = new.to_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-", suffix=".nii.gz")
    try:
        with os.fdopen(fd, "wb") as fh:
            # level 6: 240³ images compress to a few MB in well under a second
            fh.write(gzip.compress(raw, compresslevel=6, mtime=0))
        os.replace(tmp, out)  # atomic: concurrent requests see all or nothing
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def display_rendition(src: Path, sha256: str, cache_dir: Path) -> Path:
    """The gzip-compressed raw NIfTI rendition of ``src`` (content hash ``sha256``), built on
    first use under ``cache_dir``."""
    out = cache_dir / sha256[:2] / f"{sha256}.{RENDITION_VERSION}.nii.gz"
    if out.is_file():
        return out
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(sha256, threading.Lock())
    with lock:  # concurrent first requests build it once
        if not out.is_file():
            _write_rendition(src, out)
    with _LOCKS_GUARD:
        _LOCKS.pop(sha256, None)
    return out
