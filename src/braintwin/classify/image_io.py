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
from braintwin.io.limits import check_declared, reading

__all__ = ["MIN_SIDE", "load_image", "to_grey"]

MIN_SIDE = 16  # pixels; below this there is no anatomy to classify (e.g. a 1x1 image)

_DICOM_MAGIC_OFFSET = 128
_HINT_DICOM = "check the file is a complete DICOM image (not a report or a truncated copy)"


def _luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an (H, W, 3|4) array, in blocks of rows: no full float copy of the
    colour image is ever made (it would be 3x the size of the result)."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    out = np.empty(rgb.shape[:2], dtype=np.float32)
    for r in range(0, rgb.shape[0], 256):
        out[r : r + 256] = rgb[r : r + 256, :, :3].astype(np.float32) @ weights
    return out


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
        arr = arr[..., 0] if arr.shape[2] == 1 else _luma(arr)
    if arr.ndim != 2:
        raise InputError(
            f"expected one 2D image, got an array of shape {arr.shape}",
            "pass a single slice (H, W) or an RGB image (H, W, 3)",
        )
    if min(arr.shape) < MIN_SIDE:
        raise InputError(
            f"image is too small to classify: {arr.shape[1]}x{arr.shape[0]} pixels",
            f"give an MRI slice of at least {MIN_SIDE}x{MIN_SIDE} pixels",
        )
    out = arr.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise InputError("image contains NaN/Inf pixels", "fix or re-export the image")
    return out


def _is_dicom(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(_DICOM_MAGIC_OFFSET + 4)
    return path.suffix.lower() == ".dcm" or head[_DICOM_MAGIC_OFFSET:] == b"DICM"


def _load_dicom(path: Path) -> np.ndarray:
    import pydicom

    with reading(path.name, _HINT_DICOM):
        ds = pydicom.dcmread(path, defer_size=64 * 1024)
        rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        if min(rows, cols, frames, samples) < 1:
            raise InputError(f"{path.name} declares no image (Rows x Columns)", _HINT_DICOM)
        # float32 working copy of every frame and sample
        check_declared(path.name, rows * cols * frames * samples * 4, kind="image")
        try:
            pixels = ds.pixel_array.astype(np.float32)
        except Exception as err:  # pydicom raises many types for corrupt files
            raise InputError(
                f"cannot read DICOM pixels from {path.name}: {type(err).__name__}", _HINT_DICOM
            ) from err
        if pixels.ndim == 3 and samples == 1:
            if pixels.shape[0] != 1:
                raise InputError(
                    f"{path.name} is a multi-frame DICOM ({pixels.shape[0]} frames)",
                    "classify one frame: pass it as an array, or load the series as a Volume",
                )
            pixels = pixels[0]
        slope = float(ds.get("RescaleSlope", 1) or 1)
        intercept = float(ds.get("RescaleIntercept", 0) or 0)
        return to_grey(pixels * np.float32(slope) + np.float32(intercept))


def _palette_grey(im: Any) -> np.ndarray:
    """A palette image's grey values through a 256-entry luma table: the same values as
    ``convert("RGB")`` then luma, without an RGB copy of the image (4x its size)."""
    palette = np.zeros((256, 3), dtype=np.float32)
    colours = np.asarray(im.getpalette(rawmode="RGB") or [], dtype=np.float32).reshape(-1, 3)
    palette[: min(len(colours), 256)] = colours[:256]
    table = palette @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.asarray(table[np.asarray(im)], dtype=np.float32)


def _raster_bytes(im: Any) -> int:
    """The decoded image in memory: Pillow's buffer and our float32 copy of every band."""
    width, height = im.size
    native = ("L", "RGB", "RGBA", "P", "I;16", "I;16B", "I;16L", "I", "F")
    bands = len(im.getbands()) if im.mode in native else 3
    return int(width) * int(height) * max(bands, 1) * 4  # palette/CMYK/... become RGB


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
            width, height = im.size
            if min(width, height) < MIN_SIDE:
                raise InputError(
                    f"image is too small to classify: {width}x{height} pixels",
                    f"give an MRI slice of at least {MIN_SIDE}x{MIN_SIDE} pixels",
                )
            check_declared(
                path.name,
                _raster_bytes(im),
                kind="image",
                file_bytes=path.stat().st_size,
                compressed=True,
            )
            im.load()  # decode now so a truncated file fails here, not later
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                arr = np.asarray(im, dtype=np.float32)  # keep 16-bit depth
            elif im.mode in ("L", "RGB", "RGBA"):
                arr = np.asarray(im)
            elif im.mode == "P":
                arr = _palette_grey(im)
            else:
                arr = np.asarray(im.convert("RGB"))
    except InputError:
        raise
    except Image.DecompressionBombError as err:
        raise InputError(
            f"{path.name} declares an image too large to decode safely (a decompression bomb "
            "or a corrupt header)",
            "re-export the slice at its real size (MRI slices are at most a few thousand pixels)",
        ) from err
    except UnidentifiedImageError as err:
        raise InputError(
            f"{path.name} is not an image file Pillow or pydicom can read",
            "give a JPEG, PNG or DICOM slice",
        ) from err
    except MemoryError as err:
        raise InputError(
            f"not enough memory to decode {path.name}", "lower BRAINTWIN_MAX_IMAGE_BYTES"
        ) from err
    except Exception as err:  # truncated / corrupt data: Pillow raises anything
        raise InputError(
            f"cannot decode {path.name} ({type(err).__name__})",
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
        with reading(p.name, "save it with numpy.save, one 2D array"):
            arr = np.load(p, allow_pickle=False, mmap_mode="r")
            check_declared(p.name, int(arr.size) * 4, kind="image")
            return to_grey(np.asarray(arr))
    with reading(p.name, "check the file is a complete image"):
        dicom = _is_dicom(p)
    if dicom:
        return _load_dicom(p)
    return _load_raster(p)
