"""Store fixtures: every store test runs on SQLite and on a real PostgreSQL server.

The PostgreSQL variant uses ``$BRAINTWIN_TEST_PG_URL`` (``scripts/start-postgres.sh`` prints
one). It is skipped when the variable is unset on a developer machine and FAILS in CI
(``CI`` set), where ``.ci/run`` always starts the server. Each PostgreSQL test gets a fresh
schema (via the connection's ``search_path``) that is dropped afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from braintwin.store import Store
from braintwin.types import Modality, Visit, Volume

PG_ENV = "BRAINTWIN_TEST_PG_URL"


def pg_base_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set in CI: .ci/run must start PostgreSQL")
        pytest.skip(f"{PG_ENV} not set (run scripts/start-postgres.sh and export it)")
    return url


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """``None`` for SQLite in the store's home, else a PostgreSQL URL on a fresh schema."""
    if request.param == "sqlite":
        yield None
        return
    base = pg_base_url()
    schema = f"bt_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Every test that needs a store runs once per backend.
    if "db_url" in metafunc.fixturenames:
        metafunc.parametrize(
            "db_url",
            ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
            indirect=True,
        )


@pytest.fixture
def store(db_url: str | None, home: Path) -> Iterator[Store]:
    st = Store.open(url=db_url, home=home)
    try:
        yield st
    finally:
        st.close()


def oblique_affine() -> np.ndarray:
    """A rotated, anisotropic affine whose entries are not exact in float32 (NIfTI's sform)."""
    c, s = np.cos(0.3), np.sin(0.3)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([0.9, 1.1, 1.3])
    aff[:3, 3] = [-4.123456789, 5.987654321, -6.5]
    return aff


def _make_visit(
    rng: np.random.Generator, date: dt.date = dt.date(2020, 3, 14), n: int = 10
) -> Visit:
    """A tiny synthetic visit (n³ cube): T1ce float32, T1 int16, labels, mask, one extra."""
    aff = oblique_affine()
    shape = (n, n, n)
    seg = np.zeros(shape, np.uint8)
    seg[3:7, 3:7, 3:7] = 2
    seg[4:6, 4:6, 4:6] = 4
    return Visit(
        date=date,
        volumes={
            Modality.T1CE: Volume(
                rng.normal(size=shape).astype(np.float32),
                aff,
                Modality.T1CE,
                {"source": "synthetic"},
            ),
            Modality.T1: Volume(rng.integers(-500, 3000, shape, dtype=np.int16), aff, Modality.T1),
        },
        segmentation=Volume(seg, aff, Modality.SEG),
        brain_mask=Volume(np.ones(shape, bool), aff, Modality.MASK),
        measurements={"WT": {"volume_ml": 0.064, "voxels": 64}, "ET": {"volume_ml": 0.008}},
        extras={
            "uncertainty": Volume(rng.random(shape).astype(np.float32), aff, Modality.PROBABILITY)
        },
        meta={"source": "synthetic", "steps": ["reorient", "resample"]},
    )


def tree(home: Path) -> dict[str, tuple[int, int]]:
    """Every file under the store's home except the database itself: size and mtime."""
    out = {}
    for p in sorted(home.rglob("*")):
        rel = p.relative_to(home).as_posix()
        if p.is_file() and not rel.startswith("braintwin.db") and rel != ".objects.lock":
            st = p.stat()
            out[rel] = (st.st_size, st.st_mtime_ns)
        elif p.is_dir():
            out[rel + "/"] = (0, 0)
    return out


def row_counts(store: Store) -> dict[str, int]:
    tables = ["patients", "visits", "volumes", "artifacts", "artifact_volumes", "events"]
    with store.engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
        }


def object_files(home: Path) -> list[Path]:
    return sorted((home / "objects").glob("*/*.nii.gz"))


@dataclass
class Helpers:
    """Test helpers (conftest modules cannot be imported under --import-mode=importlib)."""

    rng: np.random.Generator

    def visit(self, date: dt.date = dt.date(2020, 3, 14), n: int = 10) -> Visit:
        return _make_visit(self.rng, date, n)

    tree = staticmethod(tree)
    row_counts = staticmethod(row_counts)
    object_files = staticmethod(object_files)
    oblique_affine = staticmethod(oblique_affine)

    def snapshot(self, store: Store) -> tuple[dict[str, tuple[int, int]], dict[str, int]]:
        return tree(store.home), row_counts(store)


@pytest.fixture
def h(rng: np.random.Generator) -> Helpers:
    return Helpers(rng)
