"""Changing the visit history: delete, re-date and replace visits; invalidate derived results.

Each operation is one atomic write recorded as a provenance event in the same transaction.

What happens to derived results (artifacts): an artifact *bound* to a visit (saved with its
``visit_date``: posteriors, forecasts, forecast scores) describes that visit's images, so
deleting or replacing the visit deletes it too; re-dating keeps it bound (it follows the visit
to its new date). Results computed from a visit but bound to a later one (a posterior that
assimilated it) are not touched here: the caller invalidates them with
:meth:`ManageMixin.delete_artifacts` (e.g. ``since=`` the changed date), typically while
holding :meth:`Store.patient_lock`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from braintwin.errors import InputError, StoreError
from braintwin.store.base import retry_transient
from braintwin.store.convert import check_date, check_digest, check_name, new_visit_row, visit_roles
from braintwin.store.models import ArtifactRow, ArtifactVolumeRow, VisitRow, utcnow
from braintwin.store.objects import canonical
from braintwin.store.records import SaveResult, to_json
from braintwin.store.visits import VisitsMixin, _names, _visit_shas
from braintwin.types import Visit, Volume

__all__ = ["ManageMixin"]


def _taken(date: dt.date, patient_id: str) -> StoreError:
    return StoreError(
        f"patient {patient_id!r} already has a visit on {date.isoformat()}",
        "delete or re-date that visit first",
    )


class ManageMixin(VisitsMixin):
    """``delete_visit``, ``redate_visit``, ``replace_visit`` and ``delete_artifacts``."""

    @retry_transient
    def delete_visit(self, patient_id: str, date: dt.date) -> int:
        """Delete the visit on ``date`` with its volumes and the artifacts bound to it.

        Returns the number of artifacts deleted with it. Unused files are removed after.
        """
        with self._atomic() as s:
            row = self._visit_row(s, patient_id, date)
            shas = _visit_shas(s, row.id)
            n_art = _bound_artifacts(s, row.id)
            details = {"visit_id": row.id, "date": date, "digest": row.digest}
            s.delete(row)  # the database cascades to its volumes and bound artifacts
            s.flush()
            self._add_event(s, patient_id, "delete_visit", {**details, "artifacts": n_art})
        self._collect_garbage(shas)
        return n_art

    @retry_transient
    def redate_visit(self, patient_id: str, old_date: dt.date, new_date: dt.date) -> None:
        """Move the visit on ``old_date`` (shifted) to ``new_date`` (shifted).

        Refused (``StoreError``) when the patient already has a visit on ``new_date``. Bound
        artifacts follow the visit; dates written inside their payloads are not rewritten.
        """
        check_date(new_date)
        with self._atomic() as s:
            row = self._visit_row(s, patient_id, old_date)
            if new_date == old_date:
                return
            clash = s.scalar(
                select(VisitRow.id).where(
                    VisitRow.patient_id == patient_id, VisitRow.date == new_date
                )
            )
            if clash is not None:
                raise _taken(new_date, patient_id)
            row.date = new_date
            row.updated_at = utcnow()
            details = {"visit_id": row.id, "from": old_date, "to": new_date}
            self._add_event(s, patient_id, "redate_visit", details)

    @retry_transient
    def replace_visit(
        self,
        patient_id: str,
        date: dt.date,
        visit: Visit,
        *,
        digest: str,
        extra_volumes: Mapping[str, Volume] | None = None,
    ) -> SaveResult:
        """Replace the stored visit on ``date`` by ``visit``, whatever its digest.

        For corrected inputs (e.g. another modality assignment of the same files, whose source
        digest is unchanged): the old visit's volumes, classification and bound artifacts go,
        the new one is stored under ``visit.date`` (which may differ from ``date``: refused
        when another visit holds that date or that digest).
        """
        check_date(date)
        digest = check_digest(digest)
        roles = visit_roles(visit, extra_volumes)
        meta = to_json(visit.meta, "visit meta")
        measurements = to_json(visit.measurements, "visit measurements")
        canon = {key: canonical(vol) for key, vol in roles.items()}
        try:
            with self._atomic(canon.values()) as s:
                old = self._visit_row(s, patient_id, date)
                others = select(VisitRow.id).where(
                    VisitRow.patient_id == patient_id, VisitRow.id != old.id
                )
                if s.scalar(others.where(VisitRow.date == visit.date)) is not None:
                    raise _taken(visit.date, patient_id)
                if s.scalar(others.where(VisitRow.digest == digest)) is not None:
                    raise StoreError(
                        "these images are already stored as another visit of the patient",
                        "replace or delete that visit instead",
                    )
                old_shas = _visit_shas(s, old.id)
                n_art = _bound_artifacts(s, old.id)
                details = {
                    "old_visit_id": old.id,
                    "old_date": date,
                    "old_digest": old.digest,
                    "date": visit.date,
                    "digest": digest,
                    "volumes": _names(roles),
                    "artifacts": n_art,
                }
                s.delete(old)
                s.flush()  # frees the unique (patient, date) and (patient, digest) slots
                row = new_visit_row(patient_id, visit, digest, roles, canon, meta, measurements)
                s.add(row)
                s.flush()
                self._add_event(s, patient_id, "replace_visit", {**details, "visit_id": row.id})
                visit_id = row.id
        except IntegrityError as err:  # a concurrent writer took the date or digest meanwhile
            raise StoreError(
                "the visit conflicts with one saved at the same time", "try again"
            ) from err
        self._collect_garbage(old_shas)
        return SaveResult(visit_id, True, visit.date)

    @retry_transient
    def delete_artifacts(
        self,
        patient_id: str,
        kinds: Iterable[str] | None = None,
        *,
        since: dt.date | None = None,
    ) -> int:
        """Delete a patient's artifacts (of ``kinds``, default all); returns how many.

        With ``since``, only those bound to a visit dated on or after ``since`` (artifacts not
        bound to a visit, e.g. a treatment plan, are kept): what to drop when the visit on
        ``since`` changed and the model state computed from it is no longer true.
        """
        wanted = None if kinds is None else [check_name(k, "artifact kind") for k in kinds]
        if since is not None:
            check_date(since)
        if wanted == []:
            raise InputError("no artifact kind given", "pass kinds=None to mean every kind")
        with self._atomic() as s:
            self._patient_row(s, patient_id)
            stmt = select(ArtifactRow.id).where(ArtifactRow.patient_id == patient_id)
            if wanted is not None:
                stmt = stmt.where(ArtifactRow.kind.in_(wanted))
            if since is not None:
                stmt = stmt.join(VisitRow, ArtifactRow.visit_id == VisitRow.id).where(
                    VisitRow.date >= since
                )
            ids = list(s.scalars(stmt))
            if not ids:
                return 0
            shas = set(
                s.scalars(
                    select(ArtifactVolumeRow.sha256).where(ArtifactVolumeRow.artifact_id.in_(ids))
                )
            )
            s.execute(delete(ArtifactRow).where(ArtifactRow.id.in_(ids)))
            details = {"kinds": wanted, "since": since, "artifacts": len(ids)}
            self._add_event(s, patient_id, "delete_artifacts", details)
        self._collect_garbage(shas)
        return len(ids)


def _bound_artifacts(s: Session, visit_id: int) -> int:
    n = s.scalar(select(func.count(ArtifactRow.id)).where(ArtifactRow.visit_id == visit_id))
    return int(n or 0)
