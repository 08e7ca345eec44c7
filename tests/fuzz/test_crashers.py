"""Regression tests for the crashers the fuzzer found (each rebuilds its bad bytes)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from braintwin.classify.image_io import load_image
from braintwin.errors import DicomSeriesError, InputError
from braintwin.io import load_dicom_series, write_dicom_series
from braintwin.types import Modality, Volume


def _grey(tmp_path: Path, name: str, **save: object) -> Path:
    arr = (np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)
    path = tmp_path / name
    Image.fromarray(arr).save(path, **save)
    return path


def test_gif_with_lying_screen_size_memory_bounded(tmp_path: Path) -> None:
    """Fuzz seed 2 case 23: a GIF claiming a 65535 x 64 screen decoded into ~100 MiB for a
    16 MiB image (palette -> RGB -> float32 RGB copies). Now reduced row block by row block."""
    from braintwin.fuzz.runner import _reset_peak, _status_kib

    raw = bytearray(_grey(tmp_path, "s.gif").read_bytes())
    struct.pack_into("<HH", raw, 6, 65535, 64)
    bad = tmp_path / "wide.gif"
    bad.write_bytes(bytes(raw))
    load_image(_grey(tmp_path, "warm.gif"))
    reset = _reset_peak()
    base = _status_kib("VmRSS") if reset else 0
    grey = load_image(bad)
    assert grey.shape == (64, 65535)
    if reset:
        grown = (_status_kib("VmHWM") - base) * 1024
        assert grown <= 2 * grey.nbytes + (16 << 20), grown >> 20


@pytest.mark.parametrize(
    ("fmt", "patch"),
    [
        ("tif", "tiff"),  # was DecompressionBombError (2^31 x 1000 pixels)
        ("png", "png"),  # 20000^2: 1.6 GB as float32
    ],
)
def test_lying_image_dimensions_refused(tmp_path: Path, fmt: str, patch: str) -> None:
    path = _grey(tmp_path, f"s.{fmt}")
    raw = bytearray(path.read_bytes())
    if patch == "png":
        struct.pack_into(">II", raw, 16, 20000, 20000)
        struct.pack_into(">I", raw, 29, zlib.crc32(bytes(raw[12:29])))
    else:
        ifd = struct.unpack_from("<I", raw, 4)[0]
        for k in range(struct.unpack_from("<H", raw, ifd)[0]):
            entry = ifd + 2 + 12 * k
            tag, typ = struct.unpack_from("<HH", raw, entry)
            if tag in (256, 257):
                struct.pack_into("<H" if typ == 3 else "<I", raw, entry + 8, 65535)
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"too large to decode safely|more than the limit"):
        load_image(path)


def test_png_bomb_refused_by_ratio(tmp_path: Path) -> None:
    """A real 6000 x 6000 grey PNG of zeros (137 MiB as float32) from ~40 kB."""
    side = 6000
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(bytes(side + 1)) for _ in range(side)) + comp.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    path = tmp_path / "bomb.png"
    path.write_bytes(png)
    with pytest.raises(InputError, match="decompression bomb"):
        load_image(path)


def test_unknown_vr_in_file_meta(tmp_path: Path) -> None:
    """Fuzz seed 2 case 1980: NotImplementedError 'Unknown Value Representation UO' raised by
    dcmread itself (in the file meta group)."""
    vol = Volume(np.ones((20, 20, 3), np.int16), np.eye(4), Modality.T1)
    files = write_dicom_series(vol, tmp_path / "s")
    raw = bytearray(files[0].read_bytes())
    i = raw.find(b"\x02\x00\x00\x00UL")  # (0002,0000) FileMetaInformationGroupLength
    assert i > 0
    raw[i + 4 : i + 6] = b"UO"
    files[0].write_bytes(bytes(raw))
    with pytest.raises(DicomSeriesError, match="corrupt DICOM file"):
        load_dicom_series(tmp_path / "s")


def test_dicom_slice_through_the_image_reader(tmp_path: Path) -> None:
    """A single DICOM slice claiming 65535 x 65535 pixels: refused before decoding."""
    import pydicom

    vol = Volume(np.ones((20, 20, 1), np.int16), np.eye(4), Modality.T1)
    (path,) = write_dicom_series(vol, tmp_path / "s")
    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = 65535
    ds.save_as(path, enforce_file_format=False)
    with pytest.raises(InputError, match="more than the limit"):
        load_image(path)
