"""NIfTI mutants: NIfTI-1/2 header fields, truncation, byte flips, extensions, gzip bombs."""

from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

from braintwin.fuzz.seeds import Seeds
from braintwin.fuzz.values import any_float, any_int

__all__ = ["NIFTI2_FIELDS", "NIFTI_FIELDS", "NIFTI_MUTATORS"]

# NIfTI-1 field offsets (bytes) and struct formats, little-endian (nifti1.h).
NIFTI_FIELDS: dict[str, tuple[int, str]] = {
    "sizeof_hdr": (0, "i"), "dim0": (40, "h"), "dim1": (42, "h"), "dim2": (44, "h"),
    "dim3": (46, "h"), "dim4": (48, "h"), "datatype": (70, "h"), "bitpix": (72, "h"),
    "qfac": (76, "f"), "pixdim1": (80, "f"), "pixdim2": (84, "f"), "pixdim3": (88, "f"),
    "vox_offset": (108, "f"), "scl_slope": (112, "f"), "scl_inter": (116, "f"),
    "xyzt_units": (123, "b"), "qform_code": (252, "h"), "sform_code": (254, "h"),
    "quatern_b": (256, "f"), "quatern_c": (260, "f"), "quatern_d": (264, "f"),
    "qoffset_x": (268, "f"), "srow_x0": (280, "f"), "srow_x3": (292, "f"), "srow_y1": (300, "f"),
    "srow_z2": (320, "f"), "srow_z3": (324, "f"),
}  # fmt: skip
# NIfTI-2: 64-bit dimensions, offsets and floats (nifti2.h).
NIFTI2_FIELDS: dict[str, tuple[int, str]] = {
    "datatype": (12, "h"), "bitpix": (14, "h"), "dim0": (16, "q"), "dim1": (24, "q"),
    "dim2": (32, "q"), "dim3": (40, "q"), "dim4": (48, "q"), "qfac": (104, "d"),
    "pixdim1": (112, "d"), "pixdim2": (120, "d"), "pixdim3": (128, "d"), "vox_offset": (168, "q"),
    "scl_slope": (176, "d"), "scl_inter": (184, "d"), "qform_code": (344, "i"),
    "sform_code": (348, "i"), "quatern_b": (352, "d"), "srow_x0": (400, "d"),
    "srow_z3": (488, "d"),
}  # fmt: skip
_HUGE = (2**31, 2**40, 2**62, -(2**62))
_DATATYPES = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304)


def _set_field(
    raw: bytearray, name: str, rng: random.Random, fields: dict[str, tuple[int, str]]
) -> None:
    offset, fmt = fields[name]
    value: float
    if name == "datatype" and rng.random() < 0.7:
        value = rng.choice(_DATATYPES)
    elif fmt in "fd":
        value = any_float(rng) if fmt == "f" or rng.random() < 0.9 else 1e300
    elif fmt == "b":
        value = rng.randrange(-128, 128)
    elif fmt == "q" and rng.random() < 0.2:
        value = rng.choice(_HUGE)
    else:
        value = any_int(rng)
        if fmt == "h":
            value = max(-32768, min(32767, int(value)))
    struct.pack_into("<" + fmt, raw, offset, value)


def _nifti_out(raw: bytes, folder: Path, rng: random.Random, name: str) -> Path:
    gz = rng.random() < 0.5
    path = folder / f"{name}.nii{'.gz' if gz else ''}"
    path.write_bytes(gzip.compress(raw, compresslevel=1, mtime=0) if gz else raw)
    return path


def _nifti_header(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    raw = bytearray((seeds.nifti_scaled if rng.random() < 0.3 else seeds.nifti).read_bytes())
    names = rng.sample(sorted(NIFTI_FIELDS), rng.choice((1, 1, 2, 3)))
    for name in names:
        _set_field(raw, name, rng, NIFTI_FIELDS)
    return "header:" + "+".join(sorted(names)), _nifti_out(bytes(raw), folder, rng, "img")


def _nifti2_header(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    raw = bytearray(seeds.nifti2.read_bytes())
    if rng.random() < 0.2:  # truncated NIfTI-2 file
        return "nifti2:truncate", _nifti_out(
            bytes(raw[: rng.randrange(1, len(raw))]), folder, rng, "img"
        )
    names = rng.sample(sorted(NIFTI2_FIELDS), rng.choice((1, 1, 2, 3)))
    for name in names:
        _set_field(raw, name, rng, NIFTI2_FIELDS)
    return "nifti2:" + "+".join(sorted(names)), _nifti_out(bytes(raw), folder, rng, "img")


def _nifti_truncate(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    raw = seeds.nifti.read_bytes()
    if rng.random() < 0.5:  # truncate the compressed stream itself
        packed = gzip.compress(raw, compresslevel=1, mtime=0)
        path = folder / "img.nii.gz"
        path.write_bytes(packed[: rng.randrange(1, len(packed))])
        return "truncate:gz", path
    return "truncate", _nifti_out(raw[: rng.randrange(1, len(raw))], folder, rng, "img")


def _nifti_flip(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    raw = bytearray(seeds.nifti.read_bytes())
    head = rng.random() < 0.7
    for _ in range(rng.randint(1, 8)):
        raw[rng.randrange(352 if head else len(raw))] = rng.randrange(256)
    return "flip:" + ("header" if head else "any"), _nifti_out(bytes(raw), folder, rng, "img")


def _nifti_extension(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    raw = bytearray(seeds.nifti.read_bytes())
    esize = rng.choice((0, 8, 16, 24, 32, -16, 2**31 - 1, 1 << 20))
    ecode = rng.choice((0, 2, 4, 6, 40, 99, -5))
    ext = struct.pack("<ii", esize, ecode) + bytes(rng.randrange(256) for _ in range(24))
    raw[348:352] = b"\x01\x00\x00\x00"
    body = bytes(raw[:352]) + ext + bytes(raw[352:])
    patched = bytearray(body)
    struct.pack_into("<f", patched, 108, 352.0 + (len(ext) if rng.random() < 0.6 else 0))
    return "extension", _nifti_out(bytes(patched), folder, rng, "img")


def _gzip_zeros(n_mib: int) -> bytes:
    """A gzip stream of ``n_mib`` MiB of zeros, built member by member (cheap to make)."""
    member = gzip.compress(bytes(1 << 20), compresslevel=9, mtime=0)
    return member * n_mib


def _nifti_bomb(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    header = bytearray(seeds.nifti.read_bytes()[:352])
    side = rng.choice((256, 512, 1024, 2048))
    struct.pack_into("<hhhh", header, 40, 3, side, side, side)
    struct.pack_into("<hh", header, 70, 2, 8)  # uint8: side^3 bytes declared
    payload = gzip.compress(bytes(header), mtime=0) + _gzip_zeros(rng.choice((1, 8, 64)))
    path = folder / "bomb.nii.gz"
    path.write_bytes(payload)
    return f"gzip-bomb:{side}", path


NIFTI_MUTATORS = (
    (_nifti_header, 6.0),
    (_nifti_truncate, 1.5),
    (_nifti_flip, 1.5),
    (_nifti_extension, 1.0),
    (_nifti_bomb, 0.3),
    (_nifti2_header, 1.5),
)
