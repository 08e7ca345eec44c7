"""Concurrent writers: the same visit saved at once is stored once; different ones all land.

Also: writers racing on a brand-new store, the per-patient lock, and "already stored" dates.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from braintwin.errors import StoreError
from braintwin.store import SaveResult, Store


def test_concurrent_saves_of_one_visit_store_it_once(db_url: str | None, home: Path, h) -> None:
    visit = h.visit()
    Store.open(url=db_url, home=home).close()  # migrate once up front
    stores = [Store.open(url=db_url, home=home) for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            results: list[SaveResult] = list(
                pool.map(lambda st: st.save_visit("BT-CONC", visit, digest="d" * 64), stores)
            )
        assert sum(r.created for r in results) == 1
        assert len({r.visit_id for r in results}) == 1
        counts = h.row_counts(stores[0])
        assert counts["visits"] == 1 and counts["volumes"] == 5
        assert len(h.object_files(home)) == 5
        assert list((home / "staging").iterdir()) == []

        # Different visits in parallel (sharing identical seg/mask objects) all succeed.
        # They are built here, in one thread: the rng is not thread-safe.
        visits = [h.visit(dt.date(2021, 1, 1 + i)) for i in range(4)]
        for v in visits:
            v.segmentation, v.brain_mask = visit.segmentation, visit.brain_mask

        def save(i: int) -> SaveResult:
            return stores[i].save_visit(f"BT-PAR{i}", visits[i], digest=f"{i:x}" * 64)

        with ThreadPoolExecutor(4) as pool:
            assert all(r.created for r in pool.map(save, range(4)))
        assert len(stores[0].list_patients()) == 5
        for i in range(4):
            assert len(stores[0].load_patient(f"BT-PAR{i}").visits) == 1
    finally:
        for st in stores:
            st.close()


def test_already_stored_reports_the_stored_date(db_url: str | None, home: Path, h) -> None:
    # The same images sent at once under different dates: one is stored, and every other
    # writer is told the date the store actually holds.
    base = h.visit()
    visits = []
    for i in range(6):
        v = h.visit(dt.date(2020, 1, 1 + i))
        v.volumes, v.segmentation, v.brain_mask = base.volumes, base.segmentation, base.brain_mask
        visits.append(v)
    Store.open(url=db_url, home=home).close()
    stores = [Store.open(url=db_url, home=home) for _ in visits]
    try:
        with ThreadPoolExecutor(len(visits)) as pool:
            results = list(
                pool.map(
                    lambda i: stores[i].save_visit("BT-DATE", visits[i], digest="e" * 64),
                    range(len(visits)),
                )
            )
        stored = stores[0].visit_dates("BT-DATE")
        assert len(stored) == 1 and sum(r.created for r in results) == 1
        assert {r.date for r in results} == set(stored)
    finally:
        for st in stores:
            st.close()


def test_patient_lock_prevents_lost_updates(db_url: str | None, home: Path) -> None:
    # Read-modify-write of the twin's state from several threads, each with its own store
    # (own connections, like separate processes): no increment may be lost.
    Store.open(url=db_url, home=home).close()
    stores = [Store.open(url=db_url, home=home) for _ in range(4)]
    stores[0].add_patient("BT-LOCK")
    stores[0].save_artifact("BT-LOCK", "counter", {"n": 0})

    def bump(st: Store) -> None:
        for _ in range(5):
            with st.patient_lock("BT-LOCK"):
                with st.patient_lock("BT-LOCK"):  # re-entrant in one thread
                    n = st.latest_artifact("BT-LOCK", "counter").payload["n"]  # type: ignore[union-attr]
                time.sleep(0.01)  # the "compute" step, where a race would interleave
                st.save_artifact("BT-LOCK", "counter", {"n": n + 1})

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(bump, stores))
        assert stores[0].latest_artifact("BT-LOCK", "counter").payload["n"] == 20  # type: ignore[union-attr]
    finally:
        for st in stores:
            st.close()


def test_patient_lock_holds_across_processes(db_url: str | None, home: Path) -> None:
    Store.open(url=db_url, home=home).close()
    code = (
        "import sys, time\n"
        "from braintwin.store import Store\n"
        "st = Store.open(url=sys.argv[1] or None, home=sys.argv[2])\n"
        "with st.patient_lock('BT-XP'):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, db_url or "", str(home)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with Store.open(url=db_url, home=home) as st:
            busy = pytest.raises(StoreError, match="another braintwin process")
            with busy, st.patient_lock("BT-XP", timeout_s=0.3):
                pass
            with st.patient_lock("BT-OTHER", timeout_s=0.3):  # other patients are free
                pass
            proc.kill()  # a killed holder releases the lock (file closed / session ended)
            proc.wait(timeout=30)
            with st.patient_lock("BT-XP", timeout_s=30):
                pass
    finally:
        proc.kill()
        proc.wait(timeout=30)


_WRITER = """
import datetime as dt, sys, time
from pathlib import Path
import numpy as np
from braintwin.store import Store
from braintwin.types import Modality, Visit, Volume
i, url, home, go = int(sys.argv[1]), sys.argv[2] or None, sys.argv[3], Path(sys.argv[4])
shared = i % 2 == 1
rng = np.random.default_rng(0 if shared else i)
aff = np.eye(4)
seg = np.zeros((8, 8, 8), np.uint8)
seg[2:5, 2:5, 2:5] = 1
visit = Visit(
    date=dt.date(2020, 1, 1) + dt.timedelta(days=i),
    volumes={Modality.T1CE: Volume(rng.normal(size=(8, 8, 8)).astype(np.float32), aff)},
    segmentation=Volume(seg, aff, Modality.SEG),
)
pid, digest = ("BT-SHARED", "a" * 64) if shared else (f"BT-W{i}", f"{i:x}" * 64)
while not go.exists():
    time.sleep(0.01)
with Store.open(url=url, home=home) as st:
    res = st.save_visit(pid, visit, digest=digest[:64])
    assert res.date in st.visit_dates(pid), "reported a date the store does not have"
print("ok", res.created)
"""


@pytest.mark.slow
def test_concurrent_writers_on_a_new_store(db_url: str | None, tmp_path: Path) -> None:
    # Real processes open the same *new* store at once (creation, WAL switch and migration
    # race) and write; none may fail with "database is locked".
    n = 8
    home, go = tmp_path / "fresh", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(i), db_url or "", str(home), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    time.sleep(2.0)  # let them import, then release them together
    go.touch()
    outs = [p.communicate(timeout=300) for p in procs]
    failures = [
        err.strip().splitlines()[-1]
        for (_, err), p in zip(outs, procs, strict=True)
        if p.returncode
    ]
    assert failures == []
    created = sum(out.split()[-1] == "True" for out, _ in outs)
    assert created == n // 2 + 1  # every own patient, and the shared visit once
    with Store.open(url=db_url, home=home) as st:
        assert sum(p.n_visits for p in st.list_patients()) == created
        assert st.verify().ok
