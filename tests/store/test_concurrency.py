"""Concurrent writers: the same visit saved at once is stored once; different ones all land."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
