"""Derived results (posteriors, forecasts, reports) and the provenance log of a patient."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from braintwin.errors import InputError, NotFoundError
from braintwin.store.base import StoreBase, retry_transient
from braintwin.store.convert import (
    check_action,
    check_date,
    check_name,
    check_patient_id,
    fill_row,
    row_volume,
)
from braintwin.store.models import ArtifactRow, ArtifactVolumeRow, EventRow, VisitRow, utcnow
from braintwin.store.objects import canonical
from braintwin.store.records import Artifact, Event, as_utc, to_json
from braintwin.types import Volume

__all__ = ["ArtifactsMixin"]


class ArtifactsMixin(StoreBase):
    """``save_artifact`` / ``artifacts`` / ``latest_artifact`` and ``log_event`` / ``events``."""

    @retry_transient
    def save_artifact(
        self,
        patient_id: str,
        kind: str,
        payload: Mapping[str, Any],
        *,
        visit_date: dt.date | None = None,
        volumes: Mapping[str, Volume] | None = None,
    ) -> int:
        """Store a derived result atomically and return its id.

        Args:
            patient_id: an existing patient.
            kind: what it is, e.g. ``"posterior"``, ``"forecast"``, ``"report"``.
            payload: JSON-able dict (numpy arrays and scalars are converted; NaN/Inf refused).
            visit_date: the visit it belongs to, if any (must exist).
            volumes: named volumes (e.g. ``{"density_90d": Volume}``), stored content-addressed.
        """
        check_patient_id(patient_id)
        check_name(kind, "artifact kind")
        if not isinstance(payload, Mapping):
            raise InputError(f"artifact payload must be a dict, got {type(payload).__name__}")
        data = to_json(dict(payload), f"{kind} payload")
        vols: dict[str, Volume] = {}
        for name, vol in (volumes or {}).items():
            check_name(name, "artifact volume name")
            if not isinstance(vol, Volume):
                raise InputError(f"artifact volume {name!r} must be a Volume")
            vols[name] = vol
        canon = {name: canonical(vol) for name, vol in vols.items()}
        with self._atomic(canon.values()) as s:
            self._patient_row(s, patient_id)
            visit_id = None
            if visit_date is not None:
                check_date(visit_date)
                visit_id = s.scalar(
                    select(VisitRow.id).where(
                        VisitRow.patient_id == patient_id, VisitRow.date == visit_date
                    )
                )
                if visit_id is None:
                    raise NotFoundError(
                        f"patient {patient_id!r} has no visit on {visit_date.isoformat()}",
                        f"`braintwin show {patient_id}` lists the visits",
                    )
            row = ArtifactRow(
                patient_id=patient_id,
                visit_id=visit_id,
                kind=kind,
                payload=data,
                created_at=utcnow(),
            )
            for name, vol in vols.items():
                row.volumes.append(fill_row(ArtifactVolumeRow(), name, vol, canon[name]))
            s.add(row)
            s.flush()
            self._add_event(s, patient_id, "save_artifact", {"artifact_id": row.id, "kind": kind})
            artifact_id = row.id
        return artifact_id

    @retry_transient
    def save_artifacts(
        self,
        patient_id: str,
        items: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        create_patient: bool = False,
        event: tuple[str, Mapping[str, Any]] | None = None,
    ) -> list[int]:
        """Store several volume-free artifacts ``(kind, payload)`` in one transaction (all or
        nothing), creating the patient first when ``create_patient`` and it does not exist
        (e.g. a clinical record imported before any visit), with an optional provenance
        ``event`` ``(action, details)`` in the same transaction. Returns the ids in order."""
        from braintwin.store.models import PatientRow

        check_patient_id(patient_id)
        rows = []
        for kind, payload in items:
            check_name(kind, "artifact kind")
            if not isinstance(payload, Mapping):
                raise InputError(f"artifact payload must be a dict, got {type(payload).__name__}")
            rows.append((kind, to_json(dict(payload), f"{kind} payload")))
        if event is not None:
            check_action(event[0])
        with self._atomic() as s:
            if create_patient and s.get(PatientRow, patient_id) is None:
                s.add(PatientRow(id=patient_id, created_at=utcnow()))
                s.flush()
                self._add_event(s, patient_id, "create_patient", {})
            self._patient_row(s, patient_id)
            ids = []
            for kind, data in rows:
                row = ArtifactRow(
                    patient_id=patient_id, visit_id=None, kind=kind, payload=data,
                    created_at=utcnow(),
                )  # fmt: skip
                s.add(row)
                s.flush()
                self._add_event(
                    s, patient_id, "save_artifact", {"artifact_id": row.id, "kind": kind}
                )
                ids.append(row.id)
            if event is not None:
                self._add_event(s, patient_id, event[0], dict(event[1]))
        return ids

    def artifacts(
        self, patient_id: str, kind: str | None = None, *, load_volumes: bool = True
    ) -> list[Artifact]:
        """A patient's artifacts (optionally of one ``kind``), oldest first."""
        return self._artifacts(patient_id, kind, load_volumes=load_volumes, latest=False)

    def latest_artifact(
        self, patient_id: str, kind: str, *, load_volumes: bool = True
    ) -> Artifact | None:
        """The newest artifact of ``kind`` with its volumes (only its own are read), or None."""
        found = self._artifacts(patient_id, kind, load_volumes=load_volumes, latest=True)
        return found[0] if found else None

    def _artifacts(
        self, patient_id: str, kind: str | None, *, load_volumes: bool, latest: bool
    ) -> list[Artifact]:
        check_patient_id(patient_id)
        with self._reading() as s:
            self._patient_row(s, patient_id)
            stmt = (
                select(ArtifactRow, VisitRow.date)
                .outerjoin(VisitRow, ArtifactRow.visit_id == VisitRow.id)
                .where(ArtifactRow.patient_id == patient_id)
                .options(selectinload(ArtifactRow.volumes))
                .order_by(ArtifactRow.id.desc() if latest else ArtifactRow.id)
            )
            if kind is not None:
                stmt = stmt.where(ArtifactRow.kind == kind)
            if latest:
                stmt = stmt.limit(1)
            out = []
            for row, date in s.execute(stmt):
                vols = (
                    {v.role: row_volume(self.home, v) for v in row.volumes} if load_volumes else {}
                )
                out.append(
                    Artifact(
                        id=row.id,
                        patient_id=row.patient_id,
                        kind=row.kind,
                        visit_date=date,
                        created_at=as_utc(row.created_at),
                        payload=dict(row.payload),
                        volumes=vols,
                    )
                )
        return out

    @retry_transient
    def log_event(
        self, patient_id: str, action: str, details: Mapping[str, Any] | None = None
    ) -> int:
        """Append a provenance entry (``details``: JSON-able, no identifiers). Returns its id."""
        check_patient_id(patient_id)
        check_action(action)
        with self._atomic() as s:
            self._patient_row(s, patient_id)
            row = self._add_event(s, patient_id, action, dict(details or {}))
            s.flush()
            event_id = row.id
        return event_id

    def events(self, patient_id: str) -> list[Event]:
        """A patient's provenance log, oldest first."""
        check_patient_id(patient_id)
        with self._reading() as s:
            self._patient_row(s, patient_id)
            rows = s.scalars(
                select(EventRow).where(EventRow.patient_id == patient_id).order_by(EventRow.id)
            )
            return [
                Event(
                    id=r.id,
                    patient_id=r.patient_id,
                    action=r.action,
                    details=dict(r.details),
                    braintwin_version=r.braintwin_version,
                    created_at=as_utc(r.created_at),
                )
                for r in rows
            ]
