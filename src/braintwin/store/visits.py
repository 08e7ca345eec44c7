"""Visits: save (atomic, idempotent), update, load, and their extra volumes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from braintwin.errors import NotFoundError, StoreError
from braintwin.store.artifacts import ArtifactsMixin
from braintwin.store.base import retry_transient
from braintwin.store.convert import (
    BRAIN_MASK,
    EXTRA,
    SEG,
    SlotRole,
    build_visit,
    check_date,
    check_digest,
    check_grid,
    check_patient_id,
    check_volume,
    extra_roles,
    fill_row,
    new_visit_row,
    reference_row,
    row_volume,
    visit_roles,
)
from braintwin.store.models import (
    ArtifactRow,
    ArtifactVolumeRow,
    PatientRow,
    VisitRow,
    VolumeRow,
    utcnow,
)
from braintwin.store.objects import canonical
from braintwin.store.records import SaveResult, as_utc, to_json
from braintwin.types import Visit, Volume

__all__ = ["VisitsMixin"]


class _AlreadyStored(Exception):
    def __init__(self, visit_id: int, date: dt.date) -> None:
        self.visit_id = visit_id
        self.date = date


class VisitsMixin(ArtifactsMixin):
    """Visit reads and writes: ``save_visit``, ``update_visit``, ``find_visit``, ``load_visit``.

    Also ``extra_volumes`` and ``visit_record`` (JSON fields without loading images).
    """

    def find_visit(self, patient_id: str, digest: str) -> dt.date | None:
        """The date of the patient's visit stored from source ``digest``, or None.

        Lets callers skip reading and preprocessing images that are already stored.
        """
        check_patient_id(patient_id)
        digest = check_digest(digest)
        with self._reading() as s:
            return s.scalar(
                select(VisitRow.date).where(
                    VisitRow.patient_id == patient_id, VisitRow.digest == digest
                )
            )

    def visit_dates(self, patient_id: str) -> list[dt.date]:
        """The patient's stored (shifted) visit dates in order, without loading any image."""
        check_patient_id(patient_id)
        with self._reading() as s:
            return list(
                s.scalars(
                    select(VisitRow.date)
                    .where(VisitRow.patient_id == patient_id)
                    .order_by(VisitRow.date)
                )
            )

    def load_visit(self, patient_id: str, date: dt.date, *, verify: bool = True) -> Visit:
        """One visit with its volumes."""
        with self._reading() as s:
            return self._visit(self._visit_row(s, patient_id, date), verify=verify)

    def extra_volumes(
        self, patient_id: str, date: dt.date, roles: Iterable[str] | None = None
    ) -> dict[str, Volume]:
        """A visit's extra volumes by name (all, or those in ``roles``) without the others."""
        wanted = None if roles is None else set(roles)
        with self._reading() as s:
            row = self._visit_row(s, patient_id, date)
            return {
                v.role: row_volume(self.home, v)
                for v in sorted(row.volumes, key=lambda v: v.role)
                if v.slot == EXTRA and (wanted is None or v.role in wanted)
            }

    # -- visits ---------------------------------------------------------------------------
    @retry_transient
    def save_visit(
        self,
        patient_id: str,
        visit: Visit,
        *,
        digest: str,
        extra_volumes: Mapping[str, Volume] | None = None,
        replace: bool = False,
    ) -> SaveResult:
        """Store a visit (creating the patient if needed), atomically and idempotently.

        Args:
            patient_id: pseudonymous id.
            visit: de-identified visit (its date already shifted).
            digest: sha256 of the source files; the same ``(patient_id, digest)`` again returns
                the stored visit with ``created=False`` and writes nothing.
            extra_volumes: further volumes by role (e.g. ``{"raw_t1ce": vol}``).
            replace: replace a stored visit of the same date that has a different digest
                (otherwise that is a ``StoreError``).
        """
        check_patient_id(patient_id)
        digest = check_digest(digest)
        roles = visit_roles(visit, extra_volumes)
        meta = to_json(visit.meta, "visit meta")
        measurements = to_json(visit.measurements, "visit measurements")
        with self._reading() as s:  # cheap early exit before any file work
            existing = self._visit_by_digest(s, patient_id, digest)
        if existing is not None:
            return SaveResult(existing[0], False, existing[1])
        canon = {key: canonical(vol) for key, vol in roles.items()}
        old_shas: set[str] = set()
        try:
            with self._atomic(canon.values()) as s:
                found = self._visit_by_digest(s, patient_id, digest)
                if found is not None:  # stored by a concurrent writer meanwhile
                    raise _AlreadyStored(*found)
                same_day = s.scalar(
                    select(VisitRow).where(
                        VisitRow.patient_id == patient_id, VisitRow.date == visit.date
                    )
                )
                if same_day is not None and same_day.digest == digest:
                    # Committed by a concurrent writer after the digest check above (READ
                    # COMMITTED lets the second query see it): the same visit, already stored.
                    raise _AlreadyStored(same_day.id, same_day.date)
                if same_day is not None:
                    if not replace:
                        raise StoreError(
                            f"patient {patient_id!r} already has a different visit on "
                            f"{visit.date.isoformat()}",
                            "check the visit date; to overwrite the stored visit use "
                            "Store.replace_visit (or replace=True)",
                        )
                    old_shas = _visit_shas(s, same_day.id)
                    s.delete(same_day)
                    s.flush()  # the unique (patient, date) slot must be free before inserting
                if s.get(PatientRow, patient_id) is None:
                    s.add(PatientRow(id=patient_id, created_at=utcnow()))
                    s.flush()
                row = new_visit_row(patient_id, visit, digest, roles, canon, meta, measurements)
                s.add(row)
                s.flush()
                action = "replace_visit" if same_day is not None else "save_visit"
                details = {"visit_id": row.id, "date": visit.date, "digest": digest}
                self._add_event(s, patient_id, action, {**details, "volumes": _names(roles)})
                visit_id = row.id
        except _AlreadyStored as done:
            return SaveResult(done.visit_id, False, done.date)
        except IntegrityError as err:
            with self._reading() as s:
                found = self._visit_by_digest(s, patient_id, digest)
            if found is not None:
                return SaveResult(found[0], False, found[1])
            raise StoreError(
                "the visit conflicts with one saved at the same time", "retry the ingest"
            ) from err
        if old_shas:
            self._collect_garbage(old_shas)
        return SaveResult(visit_id, True, visit.date)

    @retry_transient
    def update_visit(
        self,
        patient_id: str,
        date: dt.date,
        *,
        segmentation: Volume | None = None,
        brain_mask: Volume | None = None,
        extra_volumes: Mapping[str, Volume] | None = None,
        measurements: Mapping[str, Any] | None = None,
        classification: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Add or replace parts of a stored visit, atomically.

        Volumes given replace those of the same role; ``measurements`` and ``classification``
        replace the stored dicts; ``meta`` is merged key by key into the stored meta.
        """
        check_patient_id(patient_id)
        roles = extra_roles(extra_volumes)
        for slot, vol in ((SEG, segmentation), (BRAIN_MASK, brain_mask)):
            if vol is not None:
                roles[(slot, slot)] = check_volume(vol, slot)
        new_measurements = None if measurements is None else to_json(dict(measurements))
        new_class = None if classification is None else to_json(dict(classification))
        new_meta = None if meta is None else to_json(dict(meta), "visit meta")
        canon = {key: canonical(vol) for key, vol in roles.items()}
        old_shas: set[str] = set()
        with self._atomic(canon.values()) as s:
            row = self._visit_row(s, patient_id, date)
            stored = {(v.slot, v.role): v for v in row.volumes}
            ref = reference_row(row.volumes)
            for (slot, role), vol in roles.items():
                if slot != EXTRA and ref is not None:
                    check_grid(slot, vol, ref.shape, ref.affine)
                if (slot, role) in stored:
                    old_shas.add(stored[(slot, role)].sha256)
                    fill_row(stored[(slot, role)], role, vol, canon[(slot, role)])
                else:
                    vrow = fill_row(VolumeRow(slot=slot), role, vol, canon[(slot, role)])
                    row.volumes.append(vrow)
            if new_measurements is not None:
                row.measurements = new_measurements
            if new_class is not None:
                row.classification = new_class
            if new_meta is not None:
                row.meta = {**row.meta, **new_meta}
            row.updated_at = utcnow()
            fields = (
                ("measurements", new_measurements),
                ("classification", new_class),
                ("meta", new_meta),
            )
            changed = _names(roles) + [k for k, v in fields if v is not None]
            details = {"visit_id": row.id, "date": date, "changed": changed}
            self._add_event(s, patient_id, "update_visit", details)
        if old_shas:
            self._collect_garbage(old_shas)

    def visit_record(self, patient_id: str, date: dt.date) -> dict[str, Any]:
        """A visit's stored JSON fields and volume roles, without loading any image."""
        with self._reading() as s:
            row = self._visit_row(s, patient_id, date)
            return {
                "visit_id": row.id,
                "date": row.date,
                "digest": row.digest,
                "volumes": _names({(v.slot, v.role): None for v in row.volumes}),
                "meta": dict(row.meta),
                "measurements": dict(row.measurements),
                "classification": row.classification,
                "created_at": as_utc(row.created_at),
                "updated_at": as_utc(row.updated_at),
            }

    # -- helpers --------------------------------------------------------------------------
    def _visit(self, row: VisitRow, *, verify: bool) -> Visit:
        visit = build_visit(self.home, row.date, list(row.volumes), verify=verify)
        visit.measurements = dict(row.measurements)
        visit.meta = dict(row.meta)  # the classification is in visit_record (Visit has no field)
        return visit

    def _visit_row(self, s: Session, patient_id: str, date: dt.date) -> VisitRow:
        check_patient_id(patient_id)
        check_date(date)
        self._patient_row(s, patient_id)
        row = s.scalar(
            select(VisitRow)
            .where(VisitRow.patient_id == patient_id, VisitRow.date == date)
            .options(selectinload(VisitRow.volumes))
        )
        if row is None:
            raise NotFoundError(
                f"patient {patient_id!r} has no visit on {date.isoformat()}",
                f"`braintwin show {patient_id}` lists the visits",
            )
        return row

    @staticmethod
    def _visit_by_digest(s: Session, patient_id: str, digest: str) -> tuple[int, dt.date] | None:
        found = s.execute(
            select(VisitRow.id, VisitRow.date).where(
                VisitRow.patient_id == patient_id, VisitRow.digest == digest
            )
        ).first()
        return None if found is None else (found[0], found[1])


def _names(roles: Mapping[SlotRole, Any]) -> list[str]:
    """Volume names for provenance: modality / ``seg`` / ``brain_mask`` / ``extra:<name>``."""
    return sorted(role if slot != EXTRA else f"extra:{role}" for slot, role in roles)


def _visit_shas(s: Session, visit_id: int) -> set[str]:
    shas = set(s.scalars(select(VolumeRow.sha256).where(VolumeRow.visit_id == visit_id)))
    shas.update(
        s.scalars(
            select(ArtifactVolumeRow.sha256)
            .join(ArtifactRow, ArtifactVolumeRow.artifact_id == ArtifactRow.id)
            .where(ArtifactRow.visit_id == visit_id)
        )
    )
    return shas
