"""Content checks of uploaded files: what a file really is, not what its name says.

* NIfTI (``.nii`` or gzip-compressed): the header must parse as NIfTI-1/2 with a 3D/4D shape;
  the data it declares must be present (a header that lies about the size is refused) and fit
  the decompressed-size and compression-ratio limits (gzip bombs).
* DICOM zip: entry count, total decompressed size and per-entry ratio are checked from the
  directory first, then again while extracting (sizes in a zip directory can lie); entries with
  absolute paths, ``..`` components or symbolic links are refused (zip-slip). Extracted files
  get neutral names (``s000/f00000.dcm``): folder and file names in a zip often carry the
  patient's name. Entries without the ``DICM`` preamble are skipped.
"""

from __future__ import annotations

import gzip
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import nibabel as nib
import numpy as np

from braintwin.api.settings import ServiceSettings

__all__ = ["UploadRefused", "check_nifti", "extract_dicom_zip", "kind_of"]

_CHUNK = 1 << 20
_RATIO_FLOOR = 1 << 20  # zip entries under 1 MiB decompressed are exempt from the ratio check
# Label maps are mostly zeros: a real BraTS label file (8.9 MB) compresses ~300:1. Images
# under 64 MiB decompressed are exempt (as in braintwin.io.limits); the absolute limit
# (counted while decompressing) bounds them anyway.
_NIFTI_RATIO_FLOOR = 64 << 20


class UploadRefused(Exception):
    """An upload that is refused: ``status`` (413, 415 or 422) and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def kind_of(path: Path) -> str:
    """``"gzip"``, ``"zip"``, ``"nifti"`` or ``"unknown"`` from the first bytes."""
    with path.open("rb") as fh:
        head = fh.read(352)
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if _nifti_magic(head):
        return "nifti"
    return "unknown"


def _nifti_magic(head: bytes) -> bool:
    return (len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00")) or (
        len(head) >= 540 and head[4:8] in (b"n+2\x00", b"ni2\x00")
    )


def _declared(head: bytes, name: str) -> tuple[int, int]:
    """(data bytes declared by the header, vox_offset)."""
    try:
        two = head[4:8] in (b"n+2\x00", b"ni2\x00")
        klass: type[nib.Nifti1Header] = nib.Nifti2Header if two else nib.Nifti1Header
        block = head[: 540 if two else 348]  # the fixed header only (extensions follow)
        endian = klass.guessed_endian(klass(block, check=False))
        hdr = klass(block, endianness=endian, check=True)
        shape = hdr.get_data_shape()
        itemsize = int(hdr.get_data_dtype().itemsize)
        offset = int(hdr.get_data_offset())
    except Exception as err:  # nibabel raises several types for broken headers
        raise UploadRefused(422, f"{name}: the NIfTI header is not valid") from err
    if len(shape) not in (3, 4) or min(shape) < 1:
        raise UploadRefused(422, f"{name}: a NIfTI image must be 3D (or 4D), got {shape}")
    return int(np.prod(shape, dtype=np.int64)) * itemsize, offset


def check_nifti(path: Path, name: str, limits: ServiceSettings) -> None:
    """Refuse anything but a complete, plausible NIfTI file (plain or gzip)."""
    kind = kind_of(path)
    size = path.stat().st_size
    if size == 0:
        raise UploadRefused(422, f"{name}: the file is empty")
    if kind == "nifti":
        with path.open("rb") as fh:
            declared, offset = _declared(fh.read(544), name)
        if offset + declared > size:
            raise UploadRefused(
                422, f"{name}: the header declares more image data than the file holds"
            )
        return
    if kind != "gzip":
        raise UploadRefused(415, f"{name}: not a NIfTI file (.nii or .nii.gz)")
    try:
        with gzip.open(path, "rb") as fh:
            head = fh.read(544)
            if not _nifti_magic(head):
                raise UploadRefused(415, f"{name}: the compressed file is not NIfTI")
            declared, offset = _declared(head, name)
            if offset + declared > limits.max_unpacked_bytes:
                raise UploadRefused(413, f"{name}: the image is larger than the upload limit")
            if declared > _NIFTI_RATIO_FLOOR and declared > limits.max_ratio * size:
                raise UploadRefused(413, f"{name}: compression ratio too high (a gzip bomb?)")
            total = len(head)
            while chunk := fh.read(_CHUNK):
                total += len(chunk)
                if total > limits.max_unpacked_bytes:
                    raise UploadRefused(413, f"{name}: decompresses beyond the upload limit")
    except (OSError, EOFError, zlib.error) as err:
        raise UploadRefused(422, f"{name}: the gzip data is corrupt or truncated") from err
    if offset + declared > total:
        raise UploadRefused(422, f"{name}: the header declares more image data than the file holds")


def _safe_parts(name: str) -> tuple[str, ...]:
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UploadRefused(422, "the zip holds an entry with an absolute path (refused)")
    parts = PurePosixPath(name).parts
    if any(p == ".." for p in parts):
        raise UploadRefused(422, "the zip holds an entry with '..' in its path (refused)")
    return parts


def extract_dicom_zip(path: Path, dest: Path, limits: ServiceSettings) -> int:
    """Check and extract the DICOM files of a zip into ``dest``; returns how many."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise UploadRefused(422, "the zip file is corrupt") from err
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_zip_entries:
            raise UploadRefused(413, f"the zip holds more than {limits.max_zip_entries} entries")
        total = 0
        for info in infos:
            _safe_parts(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UploadRefused(422, "the zip holds a symbolic link (refused)")
            total += info.file_size
            if info.file_size > _RATIO_FLOOR and info.file_size > limits.max_ratio * max(
                info.compress_size, 1
            ):
                raise UploadRefused(413, "a zip entry's compression ratio is too high (zip bomb?)")
        if total > limits.max_unpacked_bytes:
            raise UploadRefused(413, "the zip decompresses beyond the upload limit")
        return _extract(zf, infos, dest, limits)


def _extract(
    zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], dest: Path, limits: ServiceSettings
) -> int:
    folders: dict[tuple[str, ...], Path] = {}
    written = unpacked = 0
    for info in infos:
        if info.is_dir():
            continue
        parent = _safe_parts(info.filename)[:-1]
        folder = folders.setdefault(parent, dest / f"s{len(folders):03d}")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = folder / f"f{written:05d}.dcm"
        try:
            with zf.open(info) as src, target.open("wb") as out:
                head = src.read(132)
                if head[128:132] != b"DICM":
                    out.close()
                    target.unlink()
                    continue
                out.write(head)
                unpacked += len(head)
                while chunk := src.read(_CHUNK):
                    unpacked += len(chunk)  # counted as read: the directory's sizes can lie
                    if unpacked > limits.max_unpacked_bytes:
                        raise UploadRefused(413, "the zip decompresses beyond the upload limit")
                    out.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
            raise UploadRefused(
                422, "a zip entry is corrupt or uses an unsupported method"
            ) from err
        except RuntimeError as err:  # encrypted entry
            raise UploadRefused(422, "the zip is encrypted") from err
        written += 1
    if written == 0:
        raise UploadRefused(422, "the zip holds no DICOM file")
    return written
