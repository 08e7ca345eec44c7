"""Concurrent writers on a fresh store, in real processes (not a test; run by hand).

    python tests/store/bench_concurrency.py N [DB_URL]

Starts N processes that wait at a barrier, then each opens the same *new* store and saves a
small visit: half of them a visit of their own patient, the other half the same visit of one
shared patient (the "already stored" race). Prints one JSON line: failures by message, the
number of visits stored, and whether every "already stored" answer named a stored date.
With a PostgreSQL URL each run uses a fresh schema (dropped afterwards).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import sys
import tempfile
import time
import uuid
from collections import Counter
from typing import Any

import numpy as np


def _visit(seed: int, date: dt.date) -> Any:
    from braintwin.types import Modality, Visit, Volume

    rng = np.random.default_rng(seed)
    aff = np.eye(4)
    shape = (12, 12, 12)
    seg = np.zeros(shape, np.uint8)
    seg[4:8, 4:8, 4:8] = 1
    return Visit(
        date=date,
        volumes={Modality.T1CE: Volume(rng.normal(size=shape).astype(np.float32), aff)},
        segmentation=Volume(seg, aff, Modality.SEG),
        brain_mask=Volume(np.ones(shape, bool), aff, Modality.MASK),
    )


def _worker(i: int, home: str, url: str | None, barrier: Any, out: Any) -> None:
    from braintwin.store import Store

    shared = i % 2 == 1
    visit = _visit(0 if shared else i, dt.date(2020, 1, 1) + dt.timedelta(days=i % 7))
    pid = "BT-SHARED" if shared else f"BT-W{i:03d}"
    digest = ("a" if shared else f"{i:x}") * 64
    barrier.wait()
    try:
        with Store.open(url=url, home=home) as st:
            res = st.save_visit(pid, visit, digest=digest[:64])
            date = getattr(res, "date", None)
            stored = st.visit_dates(pid)
            ok_date = date is None or date in stored
            out.put((i, "ok", res.created, ok_date, str(date)))
    except Exception as err:  # report, do not crash the bench
        out.put((i, "error", f"{type(err).__name__}: {str(err)[:80]}", None, None))


def main(n: int, url: str | None) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    schema = None
    base_url = url
    if url:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        schema = f"bt_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    try:
        with tempfile.TemporaryDirectory() as home:
            barrier = ctx.Barrier(n)
            out = ctx.Queue()
            procs = [
                ctx.Process(target=_worker, args=(i, home, url, barrier, out)) for i in range(n)
            ]
            t = time.perf_counter()
            for p in procs:
                p.start()
            results = [out.get(timeout=600) for _ in procs]
            for p in procs:
                p.join()
            wall = time.perf_counter() - t
            errors = Counter(r[2] for r in results if r[1] == "error")
            from braintwin.store import Store

            with Store.open(url=url, home=home) as st:
                n_visits = sum(p.n_visits for p in st.list_patients())
            return {
                "backend": "postgresql" if url else "sqlite",
                "writers": n,
                "failed": sum(errors.values()),
                "errors": dict(errors),
                "created": sum(1 for r in results if r[1] == "ok" and r[2]),
                "visits_stored": n_visits,
                "already_stored_dates_ok": all(r[3] for r in results if r[1] == "ok"),
                "wall_s": round(wall, 1),
            }
    finally:
        if schema and base_url:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)))
