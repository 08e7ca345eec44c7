"""Fixtures of the FHIR tests: the hand-written glioblastoma bundle and a store."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BUNDLE = Path(__file__).resolve().parents[1] / "data" / "fhir" / "glioblastoma_course.json"
PATIENT = "MRN-0042"


@pytest.fixture
def bundle_dict() -> dict[str, Any]:
    return json.loads(BUNDLE.read_text())


@pytest.fixture
def write_bundle(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Write a (modified) bundle to a file and return its path."""
    count = [0]

    def write(raw: dict[str, Any]) -> Path:
        count[0] += 1
        path = tmp_path / f"bundle{count[0]}.json"
        path.write_text(json.dumps(copy.deepcopy(raw)))
        return path

    return write


def _resource(raw: dict[str, Any], kind: str, nth: int = 0) -> dict[str, Any]:
    found = [e["resource"] for e in raw["entry"] if e["resource"]["resourceType"] == kind]
    return found[nth]


@pytest.fixture
def resource() -> Callable[..., dict[str, Any]]:
    """``resource(raw, kind, nth=0)``: the ``nth`` resource of type ``kind`` in a bundle dict
    (to edit it in a test)."""
    return _resource
