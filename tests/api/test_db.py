"""The queue and the audit chain on the database alone, on SQLite and PostgreSQL.

Concurrent claimers (threads with their own connections; on PostgreSQL the
``FOR UPDATE SKIP LOCKED`` path) never take a job twice; lease expiry requeues, then fails;
concurrent audit appends form one unbroken chain; truncation is caught with a kept head.
The PostgreSQL variants run when ``BRAINTWIN_TEST_PG_URL`` is set (skipped otherwise).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from braintwin.api import audit, queue
from braintwin.api.db import ServiceDB
from braintwin.store import Store

PG_ENV = "BRAINTWIN_TEST_PG_URL"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceDB]:
    if request.param == "sqlite":
        store = Store.open(home=tmp_path / "home")
        yield ServiceDB(store.engine)
        store.close()
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} not set (scripts/start-postgres.sh starts a server)")
    schema = f"bt_api_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    store = Store.open(url=url.render_as_string(hide_password=False), home=tmp_path / "home")
    try:
        yield ServiceDB(store.engine)
    finally:
        store.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_concurrent_claims_take_each_job_once(db: ServiceDB) -> None:
    ids = [queue.enqueue(db, "update", "BT-AAAAAAAAAA", {"n": i}, "t", 2) for i in range(60)]
    taken: list[tuple[str, int]] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while (job := queue.claim(db, name, 30.0)) is not None:
            with lock:
                taken.append((name, job.id))
            queue.finish(db, job.id, name, result={"by": name})

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(j for _, j in taken) == ids  # every job once, none twice
    assert len({w for w, _ in taken}) > 1  # the work was really shared
    assert all(queue.get_job(db, j).status == "done" for j in ids)  # type: ignore[union-attr]


def test_expired_lease_requeues_then_fails(db: ServiceDB) -> None:
    job_id = queue.enqueue(db, "ingest", "BT-AAAAAAAAAA", {}, "t", 2)
    for attempt in (1, 2):
        claimed = queue.claim(db, "dead", 0.2)
        assert claimed is not None and claimed.attempts == attempt
        assert queue.recover(db) == []  # lease still valid
        time.sleep(0.3)
        (recovered,) = queue.recover(db)
        assert recovered[:2] == (job_id, "queued" if attempt == 1 else "failed")
    row = queue.get_job(db, job_id)
    assert row is not None and "gave up after 2 attempt(s)" in str(row.error)
    # a worker whose lease was taken over cannot finish the job any more
    assert not queue.finish(db, job_id, "dead", result={})


def test_heartbeat_keeps_the_lease(db: ServiceDB) -> None:
    job_id = queue.enqueue(db, "ingest", "BT-AAAAAAAAAA", {}, "t", 2)
    assert queue.claim(db, "alive", 0.3) is not None
    for _ in range(4):
        time.sleep(0.15)
        assert queue.heartbeat(db, job_id, "alive", 0.3, 0.5, "working")
        assert queue.recover(db) == []
    row = queue.get_job(db, job_id)
    assert row is not None and (row.progress, row.message) == (0.5, "working")


def test_concurrent_audit_appends_form_one_chain(db: ServiceDB) -> None:
    def writer(i: int) -> None:
        for k in range(15):
            audit.append(db, audit.AuditEntry(f"u{i}", "clinician", "read", "GET", 200, f"c{k}"))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = audit.verify(db)
    assert report.ok and report.records == 75
    # truncation leaves a valid chain: only the head kept from before reveals it
    head = report.head
    audit.append(db, audit.AuditEntry("x", "admin", "read", "GET", 200, "c"))
    with db.engine.begin() as conn:
        if db.backend == "postgresql":
            conn.execute(text("ALTER TABLE audit DISABLE TRIGGER audit_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_no_delete"))
        conn.execute(text("DELETE FROM audit WHERE id = (SELECT max(id) FROM audit)"))
    later = audit.verify(db)
    assert later.ok and later.head == head
    newer = audit.verify(db, expect_head="f" * 64)
    assert not newer.ok and "truncated" in str(newer.problem)


def test_the_database_refuses_audit_changes(db: ServiceDB) -> None:
    audit.append(db, audit.AuditEntry("x", "admin", "read", "GET", 200, "c"))
    for sql in ("UPDATE audit SET outcome = 500", "DELETE FROM audit"):
        with pytest.raises(Exception, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(sql))
    assert audit.verify(db).ok


def test_stale_uploads_without_a_job_are_removed(tmp_path: Path) -> None:
    from braintwin.api.settings import uploads_dir
    from braintwin.api.worker import tidy_uploads

    store = Store.open(home=tmp_path / "home")
    db = ServiceDB(store.engine)
    root = uploads_dir(store.home)
    for name in ("orphan", "queued", "fresh"):
        (root / name).mkdir()
    old = time.time() - 7200
    for name in ("orphan", "queued"):
        os.utime(root / name, (old, old))
    queue.enqueue(db, "ingest", "BT-AAAAAAAAAA", {"upload": "queued"}, "t", 2)
    assert tidy_uploads(db, store.home) == 1
    assert sorted(p.name for p in root.iterdir()) == ["fresh", "queued"]
    store.close()
