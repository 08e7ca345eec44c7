"""Dates of BIDS sessions, from ``sessions.tsv``, ``scans.tsv`` or the sidecars.

First found wins: ``sub-X_sessions.tsv`` (``acq_time`` of the session), then the session's
``*_scans.tsv`` (the earliest ``acq_time`` of the images used), then the sidecars'
``AcquisitionDateTime`` (or ``AcquisitionDate``). ``n/a`` means no date. A malformed date, one
in the future or one before 1900 is refused, naming the file and the session.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from braintwin.errors import InputError
from braintwin.types import Modality

__all__ = ["EARLIEST", "parse_acq_time", "session_date"]

EARLIEST = dt.date(1900, 1, 1)  # as twin.ingest.check_visit_date


def parse_acq_time(text: str, where: str) -> dt.date | None:
    """The date of a BIDS ``acq_time`` (``YYYY-MM-DD[Thh:mm:ss]``); ``where`` names it in errors."""
    text = text.strip()
    if text in ("", "n/a"):
        return None
    try:
        date = (
            dt.datetime.fromisoformat(text).date() if "T" in text else dt.date.fromisoformat(text)
        )
    except ValueError:
        raise InputError(
            f"{where}: acq_time {text!r} is not a date",
            "write YYYY-MM-DDThh:mm:ss (or n/a) in that column",
        ) from None
    if date > dt.date.today():
        raise InputError(f"{where}: the date {date} is in the future", "correct the acq_time")
    if date < EARLIEST:
        raise InputError(
            f"{where}: the date {date} is before {EARLIEST.year}",
            "braintwin needs real dates (it shifts them itself): correct acq_time or pass --date",
        )
    return date


def _tsv(path: Path, key: str) -> dict[str, str]:
    """``key`` column -> ``acq_time`` of a BIDS TSV file (empty when it has no acq_time)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(
            f"unreadable {path.name.split('_')[-1]}: {type(exc).__name__}", "fix the TSV file"
        ) from None
    out: dict[str, str] = {}
    for row in rows:
        if row.get(key) and row.get("acq_time") is not None:
            out[row[key].strip()] = row["acq_time"] or ""
    return out


def _sidecar_date(meta: dict[str, Any], where: str) -> dt.date | None:
    text = str(meta.get("AcquisitionDateTime") or meta.get("AcquisitionDate") or "")
    return parse_acq_time(text, where) if text else None


def session_date(
    folder: Path,
    sub: Path,
    name: str,
    images: dict[Modality, Path],
    metas: dict[Modality, dict[str, Any]],
) -> dict[str, Any]:
    """``{"date": …, "date_source": …}`` of one session (empty when the data holds none)."""
    table = next(iter(sorted(sub.glob("*_sessions.tsv"))), None)
    if table is not None and name != "anat":
        times = _tsv(table, "session_id")
        if name in times:
            date = parse_acq_time(times[name], f"sessions.tsv, {name}")
            if date is not None:
                return {"date": date, "date_source": "sessions.tsv"}
    scans = next(iter(sorted(folder.glob("*_scans.tsv"))), None)
    if scans is not None:
        times = _tsv(scans, "filename")
        rel = {p.relative_to(folder).as_posix(): m for m, p in images.items()}
        days = {parse_acq_time(t, f"scans.tsv, {name}") for f, t in times.items() if f in rel}
        days.discard(None)
        if days:
            return {"date": min(d for d in days if d is not None), "date_source": "scans.tsv"}
    days = {_sidecar_date(meta, f"{name} sidecar") for meta in metas.values()}
    days.discard(None)
    if days:
        return {"date": min(d for d in days if d is not None), "date_source": "sidecar"}
    return {}
