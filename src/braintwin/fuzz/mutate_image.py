"""2D image mutants: lying dimensions (PNG/JPEG/TIFF/GIF), 16-bit, truncation, byte flips,
PNG decompression bombs."""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

from braintwin.fuzz.seeds import Seeds
from braintwin.fuzz.values import flip

__all__ = ["IMAGE_MUTATORS"]


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
        flip(raw, rng, rng.randint(1, 12))
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


IMAGE_MUTATORS = ((_image_dims, 3.0), (_image_raw, 3.0), (_image_bomb, 0.2))
