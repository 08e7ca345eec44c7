"""Mutations of seed files into hostile reader inputs (NIfTI, DICOM series, 2D images).

Each mutator takes a ``random.Random`` and writes one case into a fresh folder; the case names
the reader to run and a label (reader/mutation) for the counts. Mutations target what a broken
export or an attacker controls: header fields (NIfTI dim/pixdim/vox_offset/datatype/scaling/
qform/sform, DICOM Rows/Columns/positions/transfer syntax/VRs, image dimensions), truncation,
random byte flips, extensions, decompression bombs, duplicate and missing slices.
"""

from __future__ import annotations

import gzip
import random
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from braintwin.fuzz.seeds import Seeds

__all__ = ["MUTATORS", "Case", "make_case"]

_INTS = (0, -1, 1, 2, 3, 4, 5, 7, 8, 16, 255, 256, 1024, 4096, 32767, -32768, 65535, 2**31 - 1)
_FLOATS = (0.0, -0.0, -1.0, 1e-30, 1e-6, 0.001, 0.5, 1.0, 5.0, 100.0, 1e6, 1e38,
           float("inf"), float("-inf"), float("nan"))  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One fuzz input: which reader reads ``path`` and what was done to the seed."""

    reader: str  # "nifti" | "dicom" | "image" | "visit"
    label: str
    path: Path


def _any_int(rng: random.Random) -> int:
    return rng.choice(_INTS) if rng.random() < 0.8 else rng.randint(-(2**15), 2**15 - 1)


def _any_float(rng: random.Random) -> float:
    return rng.choice(_FLOATS) if rng.random() < 0.8 else rng.uniform(-1e3, 1e3)


def _flip(data: bytearray, rng: random.Random, n: int) -> None:
    for _ in range(n):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)


# -- NIfTI -------------------------------------------------------------------------------------
# NIfTI-1 field offsets (bytes) and struct formats, little-endian (nifti1.h).
_NII_FIELDS: dict[str, tuple[int, str]] = {
    "sizeof_hdr": (0, "i"), "dim0": (40, "h"), "dim1": (42, "h"), "dim2": (44, "h"),
    "dim3": (46, "h"), "dim4": (48, "h"), "datatype": (70, "h"), "bitpix": (72, "h"),
    "qfac": (76, "f"), "pixdim1": (80, "f"), "pixdim2": (84, "f"), "pixdim3": (88, "f"),
    "vox_offset": (108, "f"), "scl_slope": (112, "f"), "scl_inter": (116, "f"),
    "xyzt_units": (123, "b"), "qform_code": (252, "h"), "sform_code": (254, "h"),
    "quatern_b": (256, "f"), "quatern_c": (260, "f"), "quatern_d": (264, "f"),
    "qoffset_x": (268, "f"), "srow_x0": (280, "f"), "srow_x3": (292, "f"), "srow_y1": (300, "f"),
    "srow_z2": (320, "f"), "srow_z3": (324, "f"),
}  # fmt: skip
_DATATYPES = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304)


def _set_field(raw: bytearray, name: str, rng: random.Random) -> None:
    offset, fmt = _NII_FIELDS[name]
    if name == "datatype" and rng.random() < 0.7:
        value: float = rng.choice(_DATATYPES)
    elif fmt == "f":
        value = _any_float(rng)
    elif fmt == "b":
        value = rng.randrange(-128, 128)
    else:
        value = _any_int(rng)
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
    names = rng.sample(sorted(_NII_FIELDS), rng.choice((1, 1, 2, 3)))
    for name in names:
        _set_field(raw, name, rng)
    return "header:" + "+".join(sorted(names)), _nifti_out(bytes(raw), folder, rng, "img")


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


# -- DICOM -------------------------------------------------------------------------------------
_DICOM_TAGS = ("Rows", "Columns", "BitsAllocated", "PixelRepresentation", "SamplesPerPixel",
               "PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient", "PixelData",
               "RescaleSlope", "NumberOfFrames", "SliceThickness", "SeriesInstanceUID")  # fmt: skip
_BAD_VALUES: dict[str, tuple[object, ...]] = {
    "Rows": (0, 1, 39, 41, 65535), "Columns": (0, 1, 65535, 4096),
    "BitsAllocated": (1, 8, 12, 32, 64), "PixelRepresentation": (1, 2, 7),
    "SamplesPerPixel": (0, 3, 4), "PixelSpacing": (["0", "0"], ["-1", "1"], ["1e-9", "1e-9"],
                                                   ["1e30", "1"], ["nan", "1"], ["1"]),
    "ImageOrientationPatient": (["1", "0", "0", "1", "0", "0"], ["2", "0", "0", "0", "2", "0"],
                                ["nan", "0", "0", "0", "1", "0"], ["1", "0", "0"]),
    "ImagePositionPatient": (["0", "0", "1e30"], ["0", "0", "1e9"], ["0", "0", "0"],
                             ["inf", "0", "0"], ["0", "0"]),
    "RescaleSlope": ("nan", "1e308", "0", "-1e-30"), "NumberOfFrames": ("1000000", "2", "0", "x"),
    "SliceThickness": ("0", "-5", "1e9"), "SeriesInstanceUID": ("1.2.3", ""),
}  # fmt: skip
_TS_PATCHES = (b"1.2.840.10008.1.2.5\x00", b"1.2.840.10008.1.2.2\x00", b"9.9.9.9.9.9.9.9.9.9\x00",
               b"1.2.840.10008.1.2\x00\x00", b"abcdefghijklmnopqrs\x00")  # fmt: skip
_EXPLICIT_LE = b"1.2.840.10008.1.2.1\x00"


def _copy_series(seeds: Seeds, folder: Path) -> list[Path]:
    out = folder / "series"
    shutil.copytree(seeds.dicom, out)
    return sorted(out.iterdir())


def _dicom_tags(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    import pydicom

    files = _copy_series(seeds, folder)
    tag = rng.choice(_DICOM_TAGS)
    targets = files if rng.random() < 0.4 else [rng.choice(files)]
    delete = rng.random() < 0.3
    for path in targets:
        ds = pydicom.dcmread(path)
        if delete:
            if tag in ds:
                delattr(ds, tag)
        else:
            value = rng.choice(_BAD_VALUES[tag]) if tag in _BAD_VALUES else None
            if value is None:
                continue
            try:
                setattr(ds, tag, value)
            except Exception:
                continue  # pydicom refuses the value itself: nothing to test
        try:
            ds.save_as(path, enforce_file_format=False)
        except Exception:
            path.write_bytes(path.read_bytes()[:200])  # unwritable value: a broken file instead
    scope = "all" if len(targets) > 1 else "one"
    return f"{'delete' if delete else 'set'}:{tag}:{scope}", files[0].parent


def _dicom_series(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    files = _copy_series(seeds, folder)
    kind = rng.choice(("duplicate", "missing", "mixed-series", "one-slice", "empty-file"))
    if kind == "duplicate":
        shutil.copy(files[2], files[0].parent / "copy.dcm")
    elif kind == "missing":
        files[rng.randrange(1, len(files) - 1)].unlink()
    elif kind == "mixed-series":
        import pydicom

        ds = pydicom.dcmread(files[1])
        ds.Rows = 20
        ds.PixelData = bytes(20 * 40 * 2)
        ds.save_as(files[1], enforce_file_format=False)
    elif kind == "one-slice":
        for p in files[1:]:
            p.unlink()
    else:
        files[3].write_bytes(b"")
    return f"series:{kind}", files[0].parent


def _dicom_raw(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    files = _copy_series(seeds, folder)
    target = rng.choice(files)
    raw = bytearray(target.read_bytes())
    kind = rng.choice(("flip", "truncate", "vr", "transfer-syntax", "transfer-syntax-all"))
    if kind == "flip":
        _flip(raw, rng, rng.randint(1, 10))
    elif kind == "truncate":
        raw = raw[: rng.randrange(1, len(raw))]
    elif kind == "vr":  # an explicit-VR element's VR replaced (e.g. the unknown 'TL')
        starts = [i for i in range(132, min(len(raw), 2000) - 4) if raw[i + 4 : i + 6].isupper()]
        if starts:
            i = rng.choice(starts)
            raw[i + 4 : i + 6] = rng.choice((b"TL", b"ZZ", b"OB", b"SQ", b"UN", b"US"))
    else:
        patch = rng.choice(_TS_PATCHES)
        for p in files if kind == "transfer-syntax-all" else [target]:
            data = p.read_bytes() if p != target else bytes(raw)
            p.write_bytes(data.replace(_EXPLICIT_LE, patch, 1))
        return f"dicom-raw:{kind}", files[0].parent
    target.write_bytes(bytes(raw))
    return f"dicom-raw:{kind}", files[0].parent


# -- 2D images ---------------------------------------------------------------------------------
def _png_ihdr(raw: bytearray, width: int, height: int, depth: int | None) -> None:
    struct.pack_into(">II", raw, 16, width & 0xFFFFFFFF, height & 0xFFFFFFFF)
    if depth is not None:
        raw[24] = depth
    struct.pack_into(">I", raw, 29, zlib.crc32(bytes(raw[12:29])) & 0xFFFFFFFF)


def _dims(rng: random.Random) -> tuple[int, int]:
    sizes = (0, 1, 15, 16, 63, 65, 1000, 20000, 65535, 2**31 - 1)
    return rng.choice(sizes), rng.choice(sizes)


def _image_dims(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    fmt = rng.choice(("png8", "png16", "jpeg", "tiff", "gif"))
    raw = bytearray(seeds.images[fmt].read_bytes())
    w, h = _dims(rng)
    if fmt.startswith("png"):
        _png_ihdr(raw, w, h, rng.choice((None, None, 1, 3, 16, 8)))
    elif fmt == "jpeg":
        i = raw.find(b"\xff\xc0")
        if i > 0:
            struct.pack_into(">HH", raw, i + 5, h & 0xFFFF, w & 0xFFFF)
    elif fmt == "gif":
        struct.pack_into("<HH", raw, 6, w & 0xFFFF, h & 0xFFFF)
        i = raw.find(b"\x2c", 13)
        if i > 0 and rng.random() < 0.5:
            struct.pack_into("<HH", raw, i + 5, w & 0xFFFF, h & 0xFFFF)
    else:  # TIFF (little-endian, as Pillow writes): ImageWidth 256 / ImageLength 257 entries
        ifd = struct.unpack_from("<I", raw, 4)[0]
        count = struct.unpack_from("<H", raw, ifd)[0]
        for k in range(min(count, 64)):
            entry = ifd + 2 + 12 * k
            tag, typ = struct.unpack_from("<HH", raw, entry)
            if tag in (256, 257):
                value = w if tag == 256 else h
                if typ == 3:
                    struct.pack_into("<H", raw, entry + 8, value & 0xFFFF)
                else:
                    struct.pack_into("<I", raw, entry + 8, value & 0xFFFFFFFF)
    path = folder / seeds.images[fmt].name
    path.write_bytes(bytes(raw))
    return f"image-dims:{fmt}", path


def _image_raw(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    fmt = rng.choice(("png8", "png16", "jpeg", "tiff", "gif", "dcm"))
    raw = bytearray(seeds.images[fmt].read_bytes())
    kind = rng.choice(("flip", "truncate"))
    if kind == "flip":
        _flip(raw, rng, rng.randint(1, 12))
    else:
        raw = raw[: rng.randrange(1, len(raw))]
    path = folder / seeds.images[fmt].name
    path.write_bytes(bytes(raw))
    return f"image-{kind}:{fmt}", path


_IDAT_CACHE: dict[int, bytes] = {}


def _zero_idat(side: int) -> bytes:
    if side not in _IDAT_CACHE:  # compressing 400 MB of zeros takes a second: do it once
        comp = zlib.compressobj(9)
        row = bytes(side + 1)  # filter byte + pixels
        _IDAT_CACHE[side] = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    return _IDAT_CACHE[side]


def _image_bomb(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    """A real grey PNG of side^2 zero pixels compressed to a few kB (zlib ~1000:1)."""
    side = rng.choice((4000, 12000, 20000))
    idat = _zero_idat(side)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    path = folder / "bomb.png"
    path.write_bytes(png)
    return f"image-bomb:{side}", path


def _visit(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    """A visit folder: a mutated NIfTI or DICOM series beside a valid image of the same head."""
    visit = folder / "visit"
    visit.mkdir()
    inner = folder / "inner"
    inner.mkdir()
    mutator = rng.choice((_nifti_header, _nifti_truncate, _dicom_tags, _dicom_raw))
    label, path = mutator(rng, seeds, inner)
    if path.is_dir():
        shutil.move(str(path), visit / "t1ce")
    else:
        suffix = ".nii.gz" if path.name.endswith(".gz") else ".nii"
        shutil.move(str(path), visit / f"case_t1ce{suffix}")
    shutil.copy(seeds.nifti, visit / "case_flair.nii")
    return f"visit:{label}", visit


Mutator = Callable[[random.Random, Seeds, Path], tuple[str, Path]]
# (reader, mutator, weight)
MUTATORS: tuple[tuple[str, Mutator, float], ...] = (
    ("nifti", _nifti_header, 6.0),
    ("nifti", _nifti_truncate, 1.5),
    ("nifti", _nifti_flip, 1.5),
    ("nifti", _nifti_extension, 1.0),
    ("nifti", _nifti_bomb, 0.3),
    ("dicom", _dicom_tags, 4.0),
    ("dicom", _dicom_series, 1.5),
    ("dicom", _dicom_raw, 2.5),
    ("image", _image_dims, 3.0),
    ("image", _image_raw, 3.0),
    ("image", _image_bomb, 0.2),
    ("visit", _visit, 1.0),
)


def make_case(rng: random.Random, seeds: Seeds, folder: Path) -> Case:
    """Draw one mutator (weighted) and write its case into the empty ``folder``."""
    weights = [w for _, _, w in MUTATORS]
    reader, mutator, _ = rng.choices(MUTATORS, weights=weights)[0]
    label, path = mutator(rng, seeds, folder)
    return Case(reader, label, path)
