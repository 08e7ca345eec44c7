"""Streamed multipart upload of a visit: parts go straight to disk under the size limits.

Accepted parts: image files named by their modality (``t1``, ``t1ce``, ``t2``, ``flair``), an
optional expert label file ``seg``, or one DICOM zip ``dicom``; text fields ``date``
(YYYY-MM-DD, the real visit date; shifted before storage), ``segment`` (``unet``, ``classical``
or ``none``) and ``update_model`` (``true``/``false``). Client file names are ignored: files are
stored under neutral names in a fresh owner-only folder, checked by content (:mod:`.sniff`),
and the folder is handed to the ingest job (or removed when the upload is refused).
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from braintwin.api.settings import ServiceSettings, uploads_dir
from braintwin.api.sniff import UploadRefused, check_nifti, extract_dicom_zip

__all__ = ["IMAGE_FIELDS", "VisitUpload", "receive_visit"]

IMAGE_FIELDS = ("t1", "t1ce", "t2", "flair")
_FILE_FIELDS = (*IMAGE_FIELDS, "seg", "dicom")
_TEXT_FIELDS = ("date", "segment", "update_model")
_MAX_TEXT = 64
SEGMENT_METHODS = ("unet", "classical", "none")


@dataclass
class VisitUpload:
    """A received, checked upload waiting for its ingest job."""

    folder: Path
    date: dt.date
    segment: str
    update_model: bool
    modalities: dict[str, str] = field(default_factory=dict)  # file name -> modality
    seg: Path | None = None
    dicom_files: int = 0

    @property
    def images(self) -> Path:
        return self.folder / "images"

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class _Parts:
    """Callbacks of the streaming parser: one open file or text buffer at a time."""

    def __init__(self, folder: Path, limits: ServiceSettings) -> None:
        self.folder = folder
        self.limits = limits
        self.files: dict[str, Path] = {}
        self.text: dict[str, str] = {}
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._name = ""
        self._out: IO[bytes] | None = None
        self._buf = bytearray()
        self._parts = 0

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def on_headers_finished(self) -> None:
        self._parts += 1
        if self._parts > self.limits.max_files + len(_TEXT_FIELDS):
            raise UploadRefused(413, f"too many parts (at most {self.limits.max_files} files)")
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        self._headers = {}
        if name in self.files or name in self.text:
            raise UploadRefused(422, f"the part {name!r} is given twice")
        if name in _FILE_FIELDS:
            path = self.folder / f"part-{name}"
            self._out = path.open("wb")
            self.files[name] = path
        elif name in _TEXT_FIELDS:
            self._buf = bytearray()
        else:
            raise UploadRefused(
                422, f"unknown part {name[:32]!r}: give {', '.join(_FILE_FIELDS + _TEXT_FIELDS)}"
            )
        self._name = name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._out is not None:
            self._out.write(data[start:end])
            return
        self._buf += data[start:end]
        if len(self._buf) > _MAX_TEXT:
            raise UploadRefused(422, f"the field {self._name!r} is too long")

    def on_part_end(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        else:
            self.text[self._name] = self._buf.decode("utf-8", "replace").strip()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


async def receive_visit(
    content_type: str | None,
    content_length: str | None,
    body: AsyncIterator[bytes],
    home: Path,
    limits: ServiceSettings,
) -> VisitUpload:
    """Stream the request body to disk, then check it; raises :class:`UploadRefused`."""
    ctype, opts = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data" or b"boundary" not in opts:
        raise UploadRefused(415, "send the visit as multipart/form-data")
    if content_length is not None:
        if not content_length.isdigit():
            raise UploadRefused(422, "invalid Content-Length")
        if int(content_length) > limits.max_upload_bytes:
            raise UploadRefused(413, f"the upload exceeds {limits.max_upload_bytes} bytes")
    folder = uploads_dir(home) / uuid.uuid4().hex
    folder.mkdir(mode=0o700)
    parts = _Parts(folder, limits)
    try:
        parser = MultipartParser(opts[b"boundary"], callbacks=_callbacks(parts))
        received = 0
        async for chunk in body:
            received += len(chunk)
            if received > limits.max_upload_bytes:
                raise UploadRefused(413, f"the upload exceeds {limits.max_upload_bytes} bytes")
            parser.write(chunk)
        parser.finalize()
        parts.close()
        return await run_in_threadpool(_check, parts, folder, limits)
    except UploadRefused:
        parts.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    except Exception as err:  # the multipart parser's own errors: a malformed body
        parts.close()
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(err, OSError):
            raise
        raise UploadRefused(422, "the multipart body is malformed") from err


def _callbacks(parts: _Parts) -> Any:
    return {
        "on_header_field": parts.on_header_field,
        "on_header_value": parts.on_header_value,
        "on_header_end": parts.on_header_end,
        "on_headers_finished": parts.on_headers_finished,
        "on_part_data": parts.on_part_data,
        "on_part_end": parts.on_part_end,
    }


def _check(parts: _Parts, folder: Path, limits: ServiceSettings) -> VisitUpload:
    date_text = parts.text.get("date")
    if not date_text:
        raise UploadRefused(422, "the visit date is missing: add the field date=YYYY-MM-DD")
    try:
        date = dt.date.fromisoformat(date_text)
    except ValueError as err:
        raise UploadRefused(422, "the visit date must be YYYY-MM-DD") from err
    segment = parts.text.get("segment", "unet").lower()
    if segment not in SEGMENT_METHODS:
        raise UploadRefused(422, f"segment must be one of {', '.join(SEGMENT_METHODS)}")
    update_text = parts.text.get("update_model", "true").lower()
    if update_text not in ("true", "false", "1", "0"):
        raise UploadRefused(422, "update_model must be true or false")
    up = VisitUpload(folder, date, segment, update_text in ("true", "1"))
    up.images.mkdir(mode=0o700)
    images = [n for n in IMAGE_FIELDS if n in parts.files]
    if "dicom" in parts.files:
        if images:
            raise UploadRefused(422, "give either a DICOM zip or NIfTI files, not both")
        up.dicom_files = extract_dicom_zip(parts.files["dicom"], up.images, limits)
        parts.files.pop("dicom").unlink()
    elif not images:
        raise UploadRefused(422, "no image: add t1, t1ce, t2 and/or flair files, or a dicom zip")
    for name in images:
        check_nifti(parts.files[name], name, limits)
        target = up.images / f"{name}.nii{'.gz' if _gz(parts.files[name]) else ''}"
        parts.files[name].rename(target)
        up.modalities[target.name] = name
    if "seg" in parts.files:
        check_nifti(parts.files["seg"], "seg", limits)
        up.seg = folder / f"seg.nii{'.gz' if _gz(parts.files['seg']) else ''}"
        parts.files["seg"].rename(up.seg)
    return up


def _gz(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"
