"""Visit management: delete, re-date and replace visits; invalidate derived results."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from braintwin.errors import NotFoundError, StoreError
from braintwin.store import Store

D1, D2, D3 = dt.date(2020, 1, 1), dt.date(2020, 4, 1), dt.date(2020, 7, 1)


def _three_visits(store: Store, h) -> list:
    visits = [h.visit(d) for d in (D1, D2, D3)]
    for i, v in enumerate(visits):
        store.save_visit("BT-M", v, digest=f"{i + 1}" * 64)
    return visits


def _actions(store: Store) -> list[str]:
    return [e.action for e in store.events("BT-M")]


def test_delete_visit_removes_it_its_artifacts_and_unused_files(store: Store, h) -> None:
    visits = _three_visits(store, h)
    vol = {"density": visits[1].reference}
    store.save_artifact("BT-M", "posterior", {"n": 2}, visit_date=D2, volumes=vol)
    store.save_artifact("BT-M", "forecast_score", {"dice": 0.5}, visit_date=D2)
    store.save_artifact("BT-M", "posterior", {"n": 3}, visit_date=D3)
    store.save_artifact("BT-M", "plan", {"name": "stupp"})
    n_files = len(h.object_files(store.home))

    assert store.delete_visit("BT-M", D2) == 2
    assert store.visit_dates("BT-M") == [D1, D3]
    left = [(a.kind, a.visit_date) for a in store.artifacts("BT-M", load_volumes=False)]
    assert left == [("posterior", D3), ("plan", None)]
    # The visit's own files (not shared with the others) are gone; seg and mask are shared.
    assert len(h.object_files(store.home)) == n_files - 3
    assert store.verify().ok
    last = store.events("BT-M")[-1]
    assert last.action == "delete_visit"
    assert last.details["date"] == D2.isoformat() and last.details["artifacts"] == 2
    with pytest.raises(NotFoundError):
        store.delete_visit("BT-M", D2)


def test_redate_visit_moves_it_with_its_artifacts_and_refuses_collisions(store: Store, h) -> None:
    _three_visits(store, h)
    store.save_artifact("BT-M", "posterior", {"n": 2}, visit_date=D2)
    new = dt.date(2020, 5, 15)
    store.redate_visit("BT-M", D2, new)
    assert store.visit_dates("BT-M") == [D1, new, D3]
    assert store.latest_artifact("BT-M", "posterior").visit_date == new  # type: ignore[union-attr]
    assert store.load_visit("BT-M", new).date == new
    assert _actions(store)[-1] == "redate_visit"
    before = h.snapshot(store)
    with pytest.raises(StoreError, match="already has a visit on 2020-07-01"):
        store.redate_visit("BT-M", new, D3)
    assert h.snapshot(store) == before
    with pytest.raises(NotFoundError):
        store.redate_visit("BT-M", D2, dt.date(2021, 1, 1))


def test_replace_visit_with_the_same_digest_replaces_images(store: Store, h) -> None:
    visits = _three_visits(store, h)
    store.update_visit("BT-M", D2, classification={"label": "glioma"})
    store.save_artifact("BT-M", "forecast_score", {"dice": 0.1}, visit_date=D2)
    corrected = h.visit(D2)  # other images, same source digest (e.g. a corrected --modality)
    res = store.replace_visit("BT-M", D2, corrected, digest="2" * 64)
    assert res.created and res.date == D2
    got = store.load_visit("BT-M", D2)
    assert np.array_equal(got.reference.data, corrected.reference.data)
    assert not np.array_equal(got.reference.data, visits[1].reference.data)
    assert store.visit_record("BT-M", D2)["classification"] is None
    assert store.artifacts("BT-M", "forecast_score") == []
    assert _actions(store)[-1] == "replace_visit"
    assert store.verify().ok  # the old images' files were collected


def test_replace_visit_can_move_it_but_not_onto_another(store: Store, h) -> None:
    _three_visits(store, h)
    before = h.snapshot(store)
    with pytest.raises(StoreError, match="already has a visit on 2020-07-01"):
        store.replace_visit("BT-M", D2, h.visit(D3), digest="9" * 64)
    with pytest.raises(StoreError, match="already stored as another visit"):
        store.replace_visit("BT-M", D2, h.visit(D2), digest="3" * 64)
    assert h.snapshot(store) == before
    new = dt.date(2020, 5, 1)
    store.replace_visit("BT-M", D2, h.visit(new), digest="9" * 64)
    assert store.visit_dates("BT-M") == [D1, new, D3]
    with pytest.raises(NotFoundError):
        store.replace_visit("BT-M", D2, h.visit(D2), digest="8" * 64)


def test_delete_artifacts_since_a_date(store: Store, h) -> None:
    visits = _three_visits(store, h)
    vol = {"density": visits[2].reference}
    for d, n in ((D1, 1), (D2, 2), (D3, 3)):
        store.save_artifact("BT-M", "posterior", {"n": n}, visit_date=d)
    store.save_artifact("BT-M", "forecast", {"from": 3}, visit_date=D3, volumes=vol)
    store.save_artifact("BT-M", "plan", {"name": "stupp"})
    assert store.delete_artifacts("BT-M", ["posterior", "forecast"], since=D2) == 3
    left = [(a.kind, a.payload) for a in store.artifacts("BT-M", load_volumes=False)]
    assert left == [("posterior", {"n": 1}), ("plan", {"name": "stupp"})]
    assert store.verify().ok  # the forecast's volume file went with it
    ev = store.events("BT-M")[-1]
    assert ev.action == "delete_artifacts" and ev.details["artifacts"] == 3
    assert store.delete_artifacts("BT-M", ["posterior"], since=D2) == 0
    assert store.delete_artifacts("BT-M") == 2  # everything, unbound ones included
