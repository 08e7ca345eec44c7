"""Round trips, idempotency, replacement, deduplication, deletion (SQLite and PostgreSQL).

All volumes are tiny synthetic cubes (10³ voxels), built in tests/store/conftest.py.
"""

from __future__ import annotations

import datetime as dt

import nibabel as nib
import numpy as np
import pytest

from braintwin.errors import InputError, NotFoundError, StoreError
from braintwin.store import Store
from braintwin.types import Modality, Visit, Volume

DIGEST_A = "a" * 64
DIGEST_B = "b" * 64


def assert_same_volume(got: Volume, want: Volume) -> None:
    assert got.data.dtype == want.data.dtype
    assert got.shape == want.shape
    assert np.array_equal(got.data, want.data)
    assert np.array_equal(got.affine, want.affine)  # exact, float64, not NIfTI's float32
    assert got.modality is want.modality
    assert got.meta == want.meta


def test_visit_round_trips_exactly(store: Store, h) -> None:
    visit = h.visit()
    res = store.save_visit("BT-ROUND", visit, digest=DIGEST_A)
    assert res.created
    patient = store.load_patient("BT-ROUND")
    assert patient.id == "BT-ROUND"
    [got] = patient.visits
    assert got.date == visit.date
    assert list(got.volumes) == [Modality.T1, Modality.T1CE]
    for m, vol in visit.volumes.items():
        assert_same_volume(got.volumes[m], vol)
    assert got.segmentation is not None and visit.segmentation is not None
    assert_same_volume(got.segmentation, visit.segmentation)
    assert got.brain_mask is not None and visit.brain_mask is not None
    assert_same_volume(got.brain_mask, visit.brain_mask)  # bool comes back as bool
    assert set(got.extras) == {"uncertainty"}
    assert_same_volume(got.extras["uncertainty"], visit.extras["uncertainty"])
    assert got.measurements == visit.measurements
    assert got.meta == visit.meta
    assert store.load_visit("BT-ROUND", visit.date).measurements == visit.measurements
    assert set(store.extra_volumes("BT-ROUND", visit.date)) == {"uncertainty"}


def test_float64_is_stored_at_float32_precision(store: Store, h) -> None:
    # Documented behaviour (the project's NIfTI rule): dtype is kept, precision is float32.
    data = h.rng.normal(size=(10, 10, 10))
    vol = Volume(data, h.oblique_affine(), Modality.T2)
    store.save_visit("BT-F64", Visit(dt.date(2021, 1, 1), {Modality.T2: vol}), digest=DIGEST_A)
    got = store.load_patient("BT-F64").visits[0].volumes[Modality.T2]
    assert got.data.dtype == np.float64
    assert np.array_equal(got.data, data.astype(np.float32).astype(np.float64))
    assert not np.array_equal(got.data, data)


def test_stored_files_are_content_addressed_nifti_without_text(store: Store, h) -> None:
    visit = h.visit()
    visit.volumes[Modality.T1CE] = visit.volumes[Modality.T1CE].with_data(
        visit.volumes[Modality.T1CE].data
    )
    store.save_visit("BT-HDR", visit, digest=DIGEST_A)
    files = h.object_files(store.home)
    assert len(files) == 5  # t1, t1ce, seg, mask, uncertainty
    for f in files:
        sha = f.name.removesuffix(".nii.gz")
        assert f.parent.name == sha[:2] and len(sha) == 64
        hdr = nib.load(str(f)).header
        for field in ("descrip", "aux_file", "intent_name", "db_name"):
            assert hdr[field].item() in (b"", "")


def test_same_digest_is_idempotent_and_writes_nothing(store: Store, h) -> None:
    visit = h.visit()
    first = store.save_visit("BT-IDEM", visit, digest=DIGEST_A)
    before = h.snapshot(store)
    again = store.save_visit("BT-IDEM", h.visit(), digest=DIGEST_A.upper())
    assert again.visit_id == first.visit_id
    assert not again.created
    assert store.find_visit("BT-IDEM", DIGEST_A) == visit.date
    assert store.find_visit("BT-IDEM", DIGEST_B) is None
    assert h.snapshot(store) == before


def test_second_visit_same_date_needs_replace(store: Store, h) -> None:
    date = dt.date(2020, 3, 14)
    store.save_visit("BT-REPL", h.visit(date), digest=DIGEST_A)
    old_files = set(h.object_files(store.home))
    before = h.snapshot(store)
    with pytest.raises(StoreError, match="already has a different visit") as err:
        store.save_visit("BT-REPL", h.visit(date), digest=DIGEST_B)
    assert "replace=True" in str(err.value)
    assert h.snapshot(store) == before

    new = h.visit(date)
    res = store.save_visit("BT-REPL", new, digest=DIGEST_B, replace=True)
    assert res.created
    [got] = store.load_patient("BT-REPL").visits
    assert_same_volume(got.volumes[Modality.T1CE], new.volumes[Modality.T1CE])
    files = set(h.object_files(store.home))
    # The old random volumes are gone; the identical seg/mask files are shared and kept.
    assert len(files) == 5
    assert len(old_files & files) == 2
    assert [e.action for e in store.events("BT-REPL")] == ["save_visit", "replace_visit"]


def test_identical_volumes_are_stored_once(store: Store, h) -> None:
    visit = h.visit()
    store.save_visit("BT-DUP1", visit, digest=DIGEST_A)
    n1 = len(h.object_files(store.home))
    # Same images for another patient and at a later date: no new files at all.
    other = Visit(
        dt.date(2020, 6, 1),
        dict(visit.volumes),
        visit.segmentation,
        visit.brain_mask,
        extras=dict(visit.extras),
    )
    store.save_visit("BT-DUP2", other, digest=DIGEST_B)
    assert len(h.object_files(store.home)) == n1
    assert h.row_counts(store)["volumes"] == 10

    store.delete_patient("BT-DUP1")
    assert len(h.object_files(store.home)) == n1  # still referenced by BT-DUP2
    got = store.load_patient("BT-DUP2").visits[0]
    assert_same_volume(got.volumes[Modality.T1CE], visit.volumes[Modality.T1CE])
    store.delete_patient("BT-DUP2")
    assert h.object_files(store.home) == []


def test_delete_patient_removes_rows_and_files(store: Store, h) -> None:
    store.save_visit("BT-KEEP", h.visit(), digest=DIGEST_A)
    keep = h.snapshot(store)
    store.save_visit("BT-DEL", h.visit(dt.date(2020, 1, 1)), digest=DIGEST_A)
    store.save_visit("BT-DEL", h.visit(dt.date(2020, 4, 1)), digest=DIGEST_B)
    store.save_artifact("BT-DEL", "forecast", {"days": 90}, volumes={"u": h.visit().reference})
    store.delete_patient("BT-DEL")
    assert not store.has_patient("BT-DEL")
    assert [p.id for p in store.list_patients()] == ["BT-KEEP"]
    assert h.snapshot(store) == keep
    with pytest.raises(NotFoundError, match="braintwin patients"):
        store.load_patient("BT-DEL")
    with pytest.raises(NotFoundError):
        store.delete_patient("BT-DEL")


def test_list_patients_summarises_visits(store: Store, h) -> None:
    assert store.list_patients() == []
    store.save_visit("BT-B", h.visit(dt.date(2020, 5, 1)), digest=DIGEST_A)
    store.save_visit("BT-B", h.visit(dt.date(2020, 1, 1)), digest=DIGEST_B)
    assert store.add_patient("BT-A")
    assert not store.add_patient("BT-A")
    a, b = store.list_patients()
    assert (a.id, a.n_visits, a.first_date, a.last_date) == ("BT-A", 0, None, None)
    assert (b.id, b.n_visits) == ("BT-B", 2)
    assert (b.first_date, b.last_date) == (dt.date(2020, 1, 1), dt.date(2020, 5, 1))
    assert b.created_at.tzinfo is not None
    assert [v.date for v in store.load_patient("BT-B").visits] == [
        dt.date(2020, 1, 1),
        dt.date(2020, 5, 1),
    ]


def test_update_visit_replaces_parts(store: Store, h) -> None:
    visit = h.visit()
    visit.segmentation = None
    store.save_visit("BT-UPD", visit, digest=DIGEST_A)
    n_before = len(h.object_files(store.home))
    seg = Volume(np.full((10, 10, 10), 2, np.uint8), visit.reference.affine, Modality.SEG)
    store.update_visit(
        "BT-UPD",
        visit.date,
        segmentation=seg,
        extra_volumes={"raw_t1ce": visit.reference},  # same content as t1ce: deduplicated
        measurements={"WT": {"volume_ml": 1.0}},
        classification={"label": "glioma", "probabilities": {"glioma": 0.9}},
        meta={"segmented_by": "test"},
    )
    got = store.load_visit("BT-UPD", visit.date)
    assert got.segmentation is not None
    assert_same_volume(got.segmentation, seg)
    assert_same_volume(got.extras["raw_t1ce"], visit.reference)
    assert got.measurements == {"WT": {"volume_ml": 1.0}}
    assert got.meta == {**visit.meta, "segmented_by": "test"}
    record = store.visit_record("BT-UPD", visit.date)
    assert record["classification"]["label"] == "glioma"
    assert len(h.object_files(store.home)) == n_before + 1

    # Replacing the segmentation drops the now-unreferenced old file.
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[2:5, 2:5, 2:5] = 4
    seg2 = seg.with_data(labels)
    store.update_visit("BT-UPD", visit.date, segmentation=seg2)
    assert len(h.object_files(store.home)) == n_before + 1
    assert_same_volume(store.load_visit("BT-UPD", visit.date).segmentation, seg2)  # type: ignore[arg-type]

    before = h.snapshot(store)
    wrong = Volume(np.zeros((9, 10, 10), np.uint8), np.eye(4), Modality.SEG)
    with pytest.raises(InputError, match="grid"):
        store.update_visit("BT-UPD", visit.date, segmentation=wrong)
    with pytest.raises(NotFoundError, match="no visit"):
        store.update_visit("BT-UPD", dt.date(1999, 1, 1), measurements={})
    assert h.snapshot(store) == before


def test_artifacts_round_trip(store: Store, h) -> None:
    visit = h.visit()
    store.save_visit("BT-ART", visit, digest=DIGEST_A)
    density = Volume(h.rng.random((10, 10, 10)), visit.reference.affine, Modality.DENSITY)
    payload = {"samples": np.arange(6).reshape(2, 3), "D_w": np.float64(0.1), "ok": np.bool_(True)}
    a1 = store.save_artifact("BT-ART", "posterior", payload, visit_date=visit.date)
    a2 = store.save_artifact(
        "BT-ART",
        "forecast",
        {"days": 90},
        volumes={"density_90d": density, "mask": visit.brain_mask},
    )
    assert a2 > a1
    arts = store.artifacts("BT-ART")
    assert [a.kind for a in arts] == ["posterior", "forecast"]
    post, fc = arts
    assert post.payload == {"samples": [[0, 1, 2], [3, 4, 5]], "D_w": 0.1, "ok": True}
    assert post.visit_date == visit.date and fc.visit_date is None
    assert set(fc.volumes) == {"density_90d", "mask"}
    # float64 density: kept at float32 precision, dtype restored.
    assert np.array_equal(fc.volumes["density_90d"].data, density.data.astype(np.float32))
    assert fc.volumes["density_90d"].modality is Modality.DENSITY
    assert_same_volume(fc.volumes["mask"], visit.brain_mask)  # type: ignore[arg-type]
    assert [a.id for a in store.artifacts("BT-ART", "forecast")] == [a2]
    assert store.artifacts("BT-ART", "report") == []
    a3 = store.save_artifact("BT-ART", "posterior", {"D_w": 0.2})
    latest = store.latest_artifact("BT-ART", "posterior")
    assert latest is not None and latest.id == a3 and latest.payload == {"D_w": 0.2}
    latest_fc = store.latest_artifact("BT-ART", "forecast")
    assert latest_fc is not None and set(latest_fc.volumes) == {"density_90d", "mask"}
    assert store.latest_artifact("BT-ART", "report") is None

    before = h.snapshot(store)
    with pytest.raises(InputError, match="non-finite"):
        store.save_artifact("BT-ART", "posterior", {"rho": float("nan")})
    with pytest.raises(NotFoundError, match="no visit"):
        store.save_artifact("BT-ART", "forecast", {}, visit_date=dt.date(1999, 1, 1))
    with pytest.raises(NotFoundError, match="braintwin patients"):
        store.save_artifact("BT-NOPE", "forecast", {})
    with pytest.raises(InputError, match="artifact kind"):
        store.save_artifact("BT-ART", "Forecast!", {})
    assert h.snapshot(store) == before


def test_events_record_provenance(store: Store, h) -> None:
    from braintwin import __version__

    visit = h.visit()
    store.save_visit("BT-EV", visit, digest=DIGEST_A)
    eid = store.log_event("BT-EV", "segment", {"method": "unet", "date": visit.date})
    events = store.events("BT-EV")
    assert [e.action for e in events] == ["save_visit", "segment"]
    assert events[-1].id == eid
    assert events[-1].details == {"method": "unet", "date": "2020-03-14"}
    assert all(e.braintwin_version == __version__ for e in events)
    assert events[0].details["digest"] == DIGEST_A
    assert events[0].created_at <= events[1].created_at
    with pytest.raises(NotFoundError):
        store.log_event("BT-NOPE", "segment", {})


def test_bad_input_is_refused_clearly(store: Store, h) -> None:
    visit = h.visit()
    with pytest.raises(InputError, match="patient id"):
        store.save_visit("../etc", visit, digest=DIGEST_A)
    with pytest.raises(InputError, match="digest"):
        store.save_visit("BT-BAD", visit, digest="not-a-digest")
    with pytest.raises(InputError, match="no image volumes"):
        store.save_visit("BT-BAD", Visit(visit.date), digest=DIGEST_A)
    visit.segmentation = Volume(np.zeros((10, 10, 9), np.uint8), np.eye(4), Modality.SEG)
    with pytest.raises(InputError, match="grid"):
        store.save_visit("BT-BAD", visit, digest=DIGEST_A)
    visit = h.visit()
    visit.meta["bad"] = object()
    with pytest.raises(InputError, match="JSON"):
        store.save_visit("BT-BAD", visit, digest=DIGEST_A)
    visit = h.visit()
    visit.extras["Bad Name"] = visit.reference
    with pytest.raises(InputError, match="extra volume name"):
        store.save_visit("BT-BAD", visit, digest=DIGEST_A)
    assert h.row_counts(store)["patients"] == 0
    assert h.object_files(store.home) == []


def test_corrupt_object_file_is_detected(store: Store, h) -> None:
    visit = h.visit()
    store.save_visit("BT-CORRUPT", visit, digest=DIGEST_A)
    # Overwrite one object with a valid NIfTI of different content (a silent bit flip).
    sha_file = h.object_files(store.home)[0]
    img = nib.load(str(sha_file))
    data = np.asanyarray(img.dataobj).copy()
    data.flat[0] = data.flat[0] + 1
    nib.save(nib.Nifti1Image(data, img.affine), str(sha_file))
    with pytest.raises(StoreError, match="checksum"):
        store.load_patient("BT-CORRUPT")
    sha_file.unlink()
    with pytest.raises(StoreError, match="missing"):
        store.load_patient("BT-CORRUPT")
