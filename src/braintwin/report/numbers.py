"""Numbers as people read them: a few significant digits, units, no raw Python records.

Every number a report prints goes through one of these, so no section can leak a 15-digit
float or a ``{'key': …}`` dict (tests check the rendered report for both).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["fixed", "ml", "percent", "sig", "value"]

DASH = "–"


def sig(x: float | None, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits, without exponent for everyday magnitudes.

    >>> sig(0.123456), sig(1234.6), sig(2.0), sig(0.000012345)
    ('0.123', '1235', '2', '1.23e-05')
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    x = float(x)
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    if mag >= digits - 1:  # no digits after the point to show: round to the unit
        return f"{x:.0f}"
    if mag < -3:
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits - 1 - mag}f}".rstrip("0").rstrip(".")


def fixed(x: float | None, decimals: int = 1) -> str:
    """``x`` with a fixed number of decimals (volumes in mL, diameters in mm)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    return f"{float(x):.{decimals}f}"


def ml(x: float | None) -> str:
    """A volume in mL: two decimals below 10 mL (0.01 mL = 10 voxels of 1 mm³), one above."""
    if x is None:
        return DASH
    return fixed(x, 2 if abs(float(x)) < 10 else 1)


def percent(x: float | None, *, signed: bool = True) -> str:
    """A percent change to whole percent, e.g. ``"+27 %"``; None (undefined) is a dash."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return DASH
    return f"{float(x):+.0f} %" if signed else f"{float(x):.0f} %"


def value(v: Any) -> str:
    """Any stored value as a reader wants it: numbers to 3 significant digits, booleans as
    yes/no, lists joined with commas, mappings as ``key: value`` pairs (never Python syntax)."""
    if v is None:
        return DASH
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return sig(v)
    if isinstance(v, list | tuple):
        return ", ".join(value(x) for x in v)
    if isinstance(v, Mapping):
        return "; ".join(f"{str(k).replace('_', ' ')}: {value(x)}" for k, x in v.items())
    return str(v)
