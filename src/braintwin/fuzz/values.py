"""Interesting values and byte-level edits shared by the mutators."""

from __future__ import annotations

import random

__all__ = ["any_float", "any_int", "flip"]

_INTS = (0, -1, 1, 2, 3, 4, 5, 7, 8, 16, 255, 256, 1024, 4096, 32767, -32768, 65535, 2**31 - 1)
_FLOATS = (0.0, -0.0, -1.0, 1e-30, 1e-6, 0.001, 0.5, 1.0, 5.0, 100.0, 1e6, 1e38,
           float("inf"), float("-inf"), float("nan"))  # fmt: skip


def any_int(rng: random.Random) -> int:
    return rng.choice(_INTS) if rng.random() < 0.8 else rng.randint(-(2**15), 2**15 - 1)


def any_float(rng: random.Random) -> float:
    return rng.choice(_FLOATS) if rng.random() < 0.8 else rng.uniform(-1e3, 1e3)


def flip(data: bytearray, rng: random.Random, n: int) -> None:
    for _ in range(n):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
