"""Measurement tables: flat rows, CSV and JSON export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from braintwin.errors import InputError
from braintwin.measure import measure_segmentation, measurements_table, write_table
from braintwin.types import Modality, Volume


def _measurements() -> dict:
    d = np.zeros((12, 12, 12), np.int16)
    d[2:10, 2:10, 2:10] = 2  # synthetic 8 mm edema cube
    d[4:8, 4:8, 4:8] = 4
    return measure_segmentation(Volume(d, np.eye(4), Modality.SEG))


def test_rows_are_flat_and_carry_context() -> None:
    rows = measurements_table(_measurements(), visit="2024-01-02")
    assert [r["region"] for r in rows] == ["WT", "TC", "ET", "edema", "necrosis"]
    assert rows[0]["visit"] == "2024-01-02"
    assert rows[0]["volume_ml"] == pytest.approx(0.512)
    assert rows[2]["centroid_x_mm"] == pytest.approx(5.5)
    assert rows[4]["centroid_x_mm"] is None  # no necrosis
    assert all(not isinstance(v, (list, tuple, dict)) for r in rows for v in r.values())


def test_csv_and_json_round_trip(tmp_path: Path) -> None:
    rows = measurements_table(_measurements())
    p = write_table(rows, tmp_path / "m.csv")
    with p.open() as fh:
        back = list(csv.DictReader(fh))
    assert float(back[0]["largest_diameter_mm"]) == pytest.approx(rows[0]["largest_diameter_mm"])
    assert back[4]["centroid_x_mm"] == ""
    q = write_table(rows, tmp_path / "sub" / "m.json")
    assert json.loads(q.read_text()) == rows
    assert sorted(x.name for x in tmp_path.rglob("*")) == ["m.csv", "m.json", "sub"]


def test_unknown_suffix() -> None:
    with pytest.raises(InputError, match=r"\.xlsx"):
        write_table([], "table.xlsx")
