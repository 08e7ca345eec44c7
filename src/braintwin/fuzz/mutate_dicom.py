"""DICOM series mutants: tag removal and bad values, duplicate/missing/mixed slices, raw byte
edits (flips, truncation, unknown VRs, transfer syntax UIDs)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from braintwin.fuzz.seeds import Seeds
from braintwin.fuzz.values import flip

__all__ = ["DICOM_MUTATORS"]

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
        flip(raw, rng, rng.randint(1, 10))
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


DICOM_MUTATORS = ((_dicom_tags, 4.0), (_dicom_series, 1.5), (_dicom_raw, 2.5))
