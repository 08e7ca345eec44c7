"""A real braintwin service for the API tests: uvicorn in a subprocess on 127.0.0.1.

``make_service`` starts a server over a fresh home with one admin, two clinicians in two care
teams and a researcher in team A, and two patients (one per team) each with a visit ingested
through the twin from a small skull-stripped phantom (about 0.2 s). Requests are real HTTP
(httpx). Workers are started by the tests that need them (``service.start_worker()``).
``service`` is one server shared by the modules (session scope, to keep the suite fast); tests
that break it on purpose (tampering, killed workers, fuzzing) start their own.

With ``BRAINTWIN_TEST_API_BACKEND=postgresql`` (and ``BRAINTWIN_TEST_PG_URL``) every server,
worker and seeding runs on PostgreSQL, each server in a fresh schema; default: SQLite.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from braintwin.api import accounts
from braintwin.api.bench import free_port, make_phantom, wait_for_server
from braintwin.api.db import ServiceDB
from braintwin.store import Store
from braintwin.twin import IngestOptions, Twin
from braintwin.types import Modality

PASSWORD = "correct horse battery staple"
USERS = {
    "admin": ("admin", []),
    "clin-a": ("clinician", ["team-a"]),
    "clin-b": ("clinician", ["team-b"]),
    "res-a": ("researcher", ["team-a"]),
}
#: The identifiers typed at registration; they must never come back from the API or the audit.
IDENTIFIERS = {"team-a": "MRN-4711-ALPHA", "team-b": "MRN-0815-BRAVO"}
CLI = "from braintwin.cli import main; main()"
TEST_ENV = {
    "BRAINTWIN_API_JOB_LEASE_S": "1.5",
    "BRAINTWIN_API_MAX_UPLOAD_BYTES": str(32 * 1024 * 1024),
    "BRAINTWIN_API_MAX_UNPACKED_BYTES": str(128 * 1024 * 1024),
}


@dataclass
class Service:
    home: Path
    url: str
    env: dict[str, str]
    patients: dict[str, str]  # team -> pseudonym
    visit: dict[str, str]  # team -> visit date (shifted)
    proc: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def login(self, user: str, password: str = PASSWORD) -> httpx.Response:
        return httpx.post(f"{self.api}/auth/login", json={"username": user, "password": password})

    def client(self, user: str | None) -> httpx.Client:
        headers = {} if user is None else {"Authorization": f"Bearer {self.tokens[user]}"}
        return httpx.Client(base_url=self.api, headers=headers, timeout=30)

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-c", CLI, "worker", "--poll", "0.2"],
            env={**self.env, **env},
            stderr=subprocess.DEVNULL,
        )
        self.workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        for w in self.workers:
            w.terminate()  # SIGTERM: the current job is finished first
        for w in self.workers:
            try:
                w.wait(timeout=60)
            except subprocess.TimeoutExpired:
                w.kill()
        self.workers.clear()

    def staged(self) -> set[str]:
        """Upload folders waiting for their ingest job."""
        folder = self.home / "uploads"
        return {p.name for p in folder.iterdir()} if folder.exists() else set()

    @property
    def db_url(self) -> str | None:
        return self.env.get("BRAINTWIN_DB_URL")

    def open_store(self) -> Store:
        return Store.open(url=self.db_url, home=self.home)

    def db(self) -> ServiceDB:
        return ServiceDB(self.open_store().engine)


def phantom_upload(folder: Path, seed: int, size: int = 40) -> dict[str, bytes]:
    img, seg = make_phantom(folder / f"ph{seed}", size, seed)
    return {"flair": img.read_bytes(), "seg": seg.read_bytes()}


def _seed_home(home: Path, tmp: Path, url: str | None) -> tuple[dict[str, str], dict[str, str]]:
    store = Store.open(url=url, home=home)
    db = ServiceDB(store.engine)
    for name, (role, teams) in USERS.items():
        accounts.add_user(db, name, role, PASSWORD, teams)
    patients, visits = {}, {}
    img, seg = make_phantom(tmp / "phantom", 40)
    opts = IngestOptions(
        modality=Modality.FLAIR,
        segment=None,
        classify=False,
        update_model=False,
        n4=False,
        segmentation=seg,
    )
    for team, identifier in IDENTIFIERS.items():
        twin = Twin.open(identifier, store=store, create=True)
        res = twin.add_visit(img, dt.date(2021, 5, 1), options=opts)
        accounts.assign_patient(db, twin.id, team)
        patients[team], visits[team] = twin.id, str(res.date)
    store.close()
    return patients, visits


@pytest.fixture(scope="session")
def make_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []
    cleanup: list[Callable[[], None]] = []

    def make(**env: str) -> Service:
        tmp = tmp_path_factory.mktemp("svc")
        home = tmp / "home"
        url = _pg_schema(cleanup) if os.environ.get(BACKEND_ENV) == "postgresql" else None
        patients, visits = _seed_home(home, tmp, url)
        full_env = {**os.environ, **TEST_ENV, **env, "BRAINTWIN_HOME": str(home)}
        full_env.pop("BRAINTWIN_DB_URL", None)
        if url is not None:
            full_env["BRAINTWIN_DB_URL"] = url
        port = free_port()
        cmd = [sys.executable, "-c", CLI, "serve", "--no-worker", "--port", str(port)]
        proc = subprocess.Popen(cmd, env=full_env)
        svc = Service(home, f"http://127.0.0.1:{port}", full_env, patients, visits, proc)
        started.append(svc)
        wait_for_server(svc.url, proc)
        for user in USERS:
            r = svc.login(user)
            assert r.status_code == 200, r.text
            svc.tokens[user] = r.json()["access_token"]
        return svc

    yield make
    for svc in started:
        for p in [*svc.workers, svc.proc]:
            with contextlib.suppress(ProcessLookupError):
                p.terminate()
        for p in [*svc.workers, svc.proc]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    for drop in cleanup:
        drop()


BACKEND_ENV = "BRAINTWIN_TEST_API_BACKEND"


def _pg_schema(cleanup: list[Callable[[], None]]) -> str:
    """A fresh schema on the test PostgreSQL server; its URL (dropped at the end)."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = os.environ.get("BRAINTWIN_TEST_PG_URL")
    if not base:
        pytest.skip("BRAINTWIN_TEST_PG_URL is not set")
    schema = f"bt_svc_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    cleanup.append(drop)
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def service(make_service: Callable[..., Service]) -> Service:
    return make_service()
