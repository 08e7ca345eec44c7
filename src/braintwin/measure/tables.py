"""Tables of measurements and radiomics features, exported as CSV or JSON.

Rows are flat dicts (str -> str | int | float | None) so one writer serves both the
per-region measurements and the per-(modality, region) radiomics table.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from braintwin.atomic import atomic_open
from braintwin.errors import InputError
from braintwin.measure.regions import RegionMeasurement

__all__ = ["measurements_table", "write_table"]


def measurements_table(
    measurements: Mapping[str, RegionMeasurement | Mapping[str, Any]],
    **context: str | int | float | None,
) -> list[dict[str, Any]]:
    """One flat row per region; ``context`` columns (e.g. ``visit="2024-01-02"``) lead.

    The centroid is split into ``centroid_x_mm``, ``centroid_y_mm``, ``centroid_z_mm``
    (world RAS, mm); empty regions have None there.
    """
    rows: list[dict[str, Any]] = []
    for name, m in measurements.items():
        d = m.to_dict() if isinstance(m, RegionMeasurement) else dict(m)
        c = d.pop("centroid_mm", None)
        d["region"] = d.get("region", name)
        for axis, i in (("x", 0), ("y", 1), ("z", 2)):
            d[f"centroid_{axis}_mm"] = None if c is None else float(c[i])
        rows.append({**context, **d})
    return rows


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)


def write_table(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write rows to ``path`` as CSV (``.csv``) or JSON (``.json``); atomic. Returns the path.

    CSV columns are the union of the rows' keys in first-seen order; missing cells are
    empty. JSON is a list of objects.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InputError(f"cannot write a table as {suffix or 'no suffix'}", "use .csv or .json")
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        if suffix == ".json":
            json.dump(list(map(dict, rows)), fh, indent=1, default=float)
        else:
            writer = csv.DictWriter(fh, fieldnames=_columns(rows), restval="")
            writer.writeheader()
            for r in rows:
                writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return path
