"""Atomic writes: a failure at any point of a write leaves the store exactly as it was.

Failures are injected (monkeypatched) while staging files, flushing rows, moving files into
objects/ and committing; KeyboardInterrupt is included because Ctrl-C must not corrupt a store.
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pytest
from sqlalchemy.orm import Session

import braintwin.store.objects as objects_mod
import braintwin.store.staging as staging_mod
from braintwin.store import Store
from braintwin.types import Modality, Volume


class Boom(Exception):
    pass


def _fail_on_call(
    monkeypatch: pytest.MonkeyPatch, target: object, name: str, n: int, exc: type[BaseException]
) -> list[int]:
    """Make ``target.name`` raise ``exc`` from its ``n``-th call on (earlier calls work)."""
    real = getattr(target, name)
    calls = [0]

    def wrapper(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        if calls[0] >= n:
            raise exc("injected failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapper)
    return calls


# (where, object patched, attribute, failing call number)
INJECTIONS = {
    "stage-write": (objects_mod, "_save", 2),
    "flush": (Session, "flush", 1),
    "move": (staging_mod, "_move", 2),
    "commit": (Session, "commit", 1),
}


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
@pytest.mark.parametrize("where", list(INJECTIONS))
def test_failed_save_leaves_store_unchanged(
    store: Store, h, monkeypatch: pytest.MonkeyPatch, where: str, exc: type[BaseException]
) -> None:
    first = h.visit(dt.date(2020, 1, 1))
    store.save_visit("BT-ATOM", first, digest="1" * 64)
    before = h.snapshot(store)
    second = h.visit(dt.date(2020, 4, 1))
    second.segmentation = first.segmentation  # shares an existing object: dedupe path too
    target, name, n = INJECTIONS[where]
    calls = _fail_on_call(monkeypatch, target, name, n, exc)
    with pytest.raises(exc):
        store.save_visit("BT-ATOM", second, digest="2" * 64)
    assert calls[0] >= n, "the failure was not reached"
    monkeypatch.undo()
    assert h.snapshot(store) == before
    assert [v.date for v in store.load_patient("BT-ATOM").visits] == [first.date]
    # The store still works and the same save succeeds now.
    assert store.save_visit("BT-ATOM", second, digest="2" * 64).created
    assert len(store.load_patient("BT-ATOM").visits) == 2


def test_failed_first_save_of_a_new_patient_leaves_nothing(
    store: Store, h, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = h.snapshot(store)
    calls = _fail_on_call(monkeypatch, staging_mod, "_move", 3, KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        store.save_visit("BT-NEW", h.visit(), digest="3" * 64)
    assert calls[0] == 3  # two objects were already in place when the interrupt came
    monkeypatch.undo()
    assert h.snapshot(store) == before
    assert not store.has_patient("BT-NEW")
    assert store.list_patients() == []


@pytest.mark.parametrize("where", ["move", "commit"])
def test_failed_update_and_artifact_leave_store_unchanged(
    store: Store, h, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    visit = h.visit()
    store.save_visit("BT-ATOM2", visit, digest="4" * 64)
    before = h.snapshot(store)
    target, name, _ = INJECTIONS[where]
    new_seg = Volume(np.full((10, 10, 10), 4, np.uint8), visit.reference.affine, Modality.SEG)
    extra = {"raw_t1ce": Volume(h.rng.random((10, 10, 10)), visit.reference.affine)}
    _fail_on_call(monkeypatch, target, name, 1, Boom)
    with pytest.raises(Boom):
        store.update_visit(
            "BT-ATOM2", visit.date, segmentation=new_seg, extra_volumes=extra, measurements={}
        )
    with pytest.raises(Boom):
        store.save_artifact("BT-ATOM2", "forecast", {"x": 1}, volumes=extra)
    monkeypatch.undo()
    assert h.snapshot(store) == before
    got = store.load_visit("BT-ATOM2", visit.date)
    assert got.measurements == visit.measurements
    assert np.array_equal(got.segmentation.data, visit.segmentation.data)  # type: ignore[union-attr]


def test_failed_delete_keeps_everything(store: Store, h, monkeypatch: pytest.MonkeyPatch) -> None:
    store.save_visit("BT-ATOM3", h.visit(), digest="5" * 64)
    before = h.snapshot(store)
    _fail_on_call(monkeypatch, Session, "commit", 1, KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        store.delete_patient("BT-ATOM3")
    monkeypatch.undo()
    assert h.snapshot(store) == before
    assert len(store.load_patient("BT-ATOM3").visits) == 1


def test_staging_leftovers_are_collected(store: Store, h) -> None:
    stale = store.home / "staging" / "deadbeef"
    stale.mkdir(parents=True)
    (stale / "x.nii.gz").write_bytes(b"partial")
    old = 1_000_000_000
    os.utime(stale, (old, old))
    orphan = store.home / "objects" / "ff" / ("f" * 64 + ".nii.gz")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"orphan")
    store.save_visit("BT-GC", h.visit(), digest="6" * 64)
    n = len(h.object_files(store.home))
    report = store.gc()
    assert report.orphan_objects == ["objects/ff/" + "f" * 64 + ".nii.gz"]
    assert report.staging == ["staging/deadbeef"]
    assert not stale.exists() and not orphan.exists()
    assert len(h.object_files(store.home)) == n - 1
    assert len(store.load_patient("BT-GC").visits) == 1
