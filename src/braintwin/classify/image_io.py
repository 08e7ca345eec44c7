"""Read one 2D image for classification: JPEG/PNG/BMP/TIFF/GIF, 16-bit PNG, a DICOM slice or an array.

Everything becomes a 2D float32 grey array (rows, cols) of raw intensities; contrast is
normalised later by :func:`braintwin.classify.preprocess.prepare_slice`, so the source format
does not matter. Anything that is not one still 2D image raises :class:`InputError` with a hint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from braintwin.errors import InputError

__all__ = ["MIN_SIDE", "load_image", "to_grey"]

MIN_SIDE = 16  # pixels; below this there is no anatomy to classify (e.g. a 1x1 image)

_DICOM_MAGIC_OFFSET = 128


def to_grey(array: Any) -> np.ndarray:
    """Convert an image array to a 2D float32 grey image.

    Accepts (H, W), (H, W, 1), (H, W, 3) RGB, (H, W, 4) RGBA (alpha dropped) and (1, H, W).
    Colour is reduced with ITU-R BT.601 luma weights, as Pillow's ``convert("L")`` does, so an
    RGB copy of a grey scan gives the same values as the grey original.
    """
    arr = np.asarray(array)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"unsupported pixel type {arr.dtype}", "give a numeric image array")
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[2] in (1, 3, 4):
        if arr.shape[2] == 1:
            arr = arr[..., 0]
        else:
            rgb = arr[..., :3].astype(np.float32)
            arr = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if arr.ndim != 2:
        raise InputError(
            f"expected one 2D image, got an array of shape {arr.shape}",
            "pass a single slice (H, W) or an RGB image (H, W, 3)",
        )
    out = arr.astype(np.float32)
    if min(out.shape) < MIN_SIDE:
        raise InputError(
            f"image is too small to classify: {out.shape[1]}x{out.shape[0]} pixels",
            f"give an MRI slice of at least {MIN_SIDE}x{MIN_SIDE} pixels",
        )
    if not np.all(np.isfinite(out)):
        raise InputError("image contains NaN/Inf pixels", "fix or re-export the image")
    return out


def _is_dicom(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(_DICOM_MAGIC_OFFSET + 4)
    return path.suffix.lower() == ".dcm" or head[_DICOM_MAGIC_OFFSET:] == b"DICM"


def _load_dicom(path: Path) -> np.ndarray:
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array.astype(np.float32)
    except Exception as err:  # pydicom raises many types for corrupt files
        raise InputError(
            f"cannot read DICOM pixels from {path.name}: {type(err).__name__}",
            "check the file is a complete DICOM image (not a report or a truncated copy)",
        ) from err
    if pixels.ndim == 3 and getattr(ds, "SamplesPerPixel", 1) == 1:
        if pixels.shape[0] != 1:
            raise InputError(
                f"{path.name} is a multi-frame DICOM ({pixels.shape[0]} frames)",
                "classify one frame: pass it as an array, or load the series as a Volume",
            )
        pixels = pixels[0]
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    return to_grey(pixels * slope + intercept)


def _load_raster(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            n_frames = int(getattr(im, "n_frames", 1))
            if n_frames > 1:
                raise InputError(
                    f"{path.name} is an animated/multi-frame image ({n_frames} frames)",
                    "export the single MRI slice you want classified as PNG or JPEG",
                )
            im.load()  # decode now so a truncated file fails here, not later
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                arr = np.asarray(im, dtype=np.float32)  # keep 16-bit depth
            elif im.mode in ("L", "RGB"):
                arr = np.asarray(im)
            else:
                arr = np.asarray(im.convert("RGB"))
    except InputError:
        raise
    except UnidentifiedImageError as err:
        raise InputError(
            f"{path.name} is not an image file Pillow or pydicom can read",
            "give a JPEG, PNG or DICOM slice",
        ) from err
    except (OSError, SyntaxError, ValueError) as err:  # truncated / corrupt data
        raise InputError(
            f"cannot decode {path.name}: {err}",
            "the file looks truncated or corrupt; re-export it",
        ) from err
    return to_grey(arr)


def load_image(path: str | Path) -> np.ndarray:
    """Read one image file as a 2D float32 grey array (rows, cols) of raw intensities.

    Formats: anything Pillow reads as a single frame (JPEG, PNG incl. 16-bit, BMP, TIFF, a
    still GIF), DICOM (``.dcm`` or the ``DICM`` preamble; rescale slope/intercept applied) and
    ``.npy`` arrays. Raises :class:`InputError` for missing, empty, truncated, multi-frame or
    tiny (< 16 px) images.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no such image file: {p}", "check the path")
    if p.stat().st_size == 0:
        raise InputError(f"{p.name} is empty (0 bytes)")
    if p.suffix.lower() == ".npy":
        try:
            return to_grey(np.load(p, allow_pickle=False))
        except (OSError, ValueError) as err:
            raise InputError(f"cannot read array file {p.name}: {err}") from err
    if _is_dicom(p):
        return _load_dicom(p)
    return _load_raster(p)
