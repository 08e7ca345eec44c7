"""Plain records the store returns, and the JSON conversion of what it is given.

JSON columns must hold the same thing on SQLite and PostgreSQL, so values are converted to
plain JSON here (numpy scalars and arrays, dates, paths and enums are accepted) and anything
else — or a NaN/Inf, which PostgreSQL's ``json`` rejects — is refused with an ``InputError``.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np

from braintwin.errors import InputError
from braintwin.types import Volume

__all__ = ["Artifact", "Event", "PatientSummary", "SaveResult", "to_json"]


@dataclass(frozen=True)
class SaveResult:
    """Outcome of ``Store.save_visit``: the visit's row id, whether anything was written, and
    the (shifted) date the store holds the visit under — when the same images were stored
    before (possibly by a concurrent writer, possibly under another date), that stored date.
    """

    visit_id: int
    created: bool
    date: dt.date


@dataclass(frozen=True)
class PatientSummary:
    """One line of ``Store.list_patients``. Dates are de-identified (shifted) visit dates."""

    id: str
    n_visits: int
    first_date: dt.date | None
    last_date: dt.date | None
    created_at: dt.datetime


@dataclass
class Artifact:
    """A stored derived result: posterior, forecast, report, …"""

    id: int
    patient_id: str
    kind: str
    visit_date: dt.date | None
    created_at: dt.datetime
    payload: dict[str, Any]
    volumes: dict[str, Volume] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """One provenance entry: ``action`` with ``details`` at ``created_at`` (UTC)."""

    id: int
    patient_id: str
    action: str
    details: dict[str, Any]
    braintwin_version: str
    created_at: dt.datetime


def to_json(value: Any, what: str = "value") -> Any:
    """``value`` as plain JSON (dict/list/str/int/float/bool/None); ``what`` names it in errors."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return to_json(value.value, what)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        if not math.isfinite(f):
            raise InputError(
                f"{what} contains a non-finite number ({f})",
                "store None for a missing value; braintwin never stores NaN/Inf",
            )
        return f
    if isinstance(value, dt.date):  # also datetime
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, np.ndarray):
        return to_json(value.tolist(), what)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = k.value if isinstance(k, enum.Enum) else k
            if not isinstance(key, str):
                raise InputError(f"{what} has a non-string key {key!r}", "use string keys")
            out[key] = to_json(v, f"{what}[{key!r}]")
        return out
    if isinstance(value, list | tuple):
        return [to_json(v, what) for v in value]
    raise InputError(
        f"{what} holds a {type(value).__name__}, which cannot be stored as JSON",
        "store numbers, strings, lists and dicts (or numpy arrays) only",
    )


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes; everything the store writes is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
