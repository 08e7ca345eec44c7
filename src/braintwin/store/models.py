"""The store's relational schema (SQLAlchemy 2.0 ORM).

Every table is portable between SQLite and PostgreSQL: free-form data uses the generic ``JSON``
type (TEXT on SQLite, ``json`` on PostgreSQL) and timestamps are stored in UTC. The Alembic
migrations in ``store/migrations`` create exactly this schema; a test checks that autogenerate
finds no difference between the two.

Image data never lives in the database: a volume row points at a content-addressed NIfTI file
``objects/ab/<sha256>.nii.gz`` under the store's home and records the geometry needed to restore
the exact ``Volume`` (affine in float64, modality, dtype, meta).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "ArtifactRow",
    "ArtifactVolumeRow",
    "Base",
    "EventRow",
    "PatientRow",
    "VisitRow",
    "VolumeRow",
    "utcnow",
]

# Deterministic constraint names so migrations can address (and later drop) them by name on
# both backends; SQLite would otherwise leave them anonymous.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PATIENT_ID_LENGTH = 64
ROLE_LENGTH = 32


def utcnow() -> dt.datetime:
    """The current time in UTC (timezone-aware)."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PatientRow(Base):
    """A pseudonymous patient; ``id`` is never a real identifier (see ``braintwin.deid``)."""

    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(String(PATIENT_ID_LENGTH), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    visits: Mapped[list[VisitRow]] = relationship(
        back_populates="patient", cascade="all, delete-orphan", passive_deletes=True
    )


class VisitRow(Base):
    """One imaging session. ``date`` is already de-identified (shifted) by the caller.

    ``digest`` is the sha256 of the source files, so re-ingesting the same series is a no-op.
    Its segmentation, brain mask and extra volumes are volume rows (see ``VolumeRow.slot``);
    ``classification`` holds the 2D classifier's result when one was run.
    """

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("patient_id", "digest"),
        UniqueConstraint("patient_id", "date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(
        String(PATIENT_ID_LENGTH), ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    date: Mapped[dt.date] = mapped_column(Date)
    digest: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    measurements: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    classification: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    patient: Mapped[PatientRow] = relationship(back_populates="visits")
    volumes: Mapped[list[VolumeRow]] = relationship(
        back_populates="visit", cascade="all, delete-orphan", passive_deletes=True
    )


class _VolumeColumns:
    """Columns shared by visit volumes and artifact volumes: a file plus exact geometry."""

    role: Mapped[str] = mapped_column(String(ROLE_LENGTH))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(255))  # relative to the store's home
    shape: Mapped[list[int]] = mapped_column(JSON)
    spacing: Mapped[list[float]] = mapped_column(JSON)  # mm, per array axis
    dtype: Mapped[str] = mapped_column(String(16))  # numpy dtype of the Volume as given
    affine: Mapped[list[list[float]]] = mapped_column(JSON)  # 4x4, float64, voxel -> RAS mm
    modality: Mapped[str] = mapped_column(String(16))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class VolumeRow(_VolumeColumns, Base):
    """A volume of a visit.

    ``slot`` says where it belongs in a ``Visit``: ``image`` (``Visit.volumes``, role = the
    modality value), ``seg`` (``Visit.segmentation``), ``brain_mask`` (``Visit.brain_mask``)
    or ``extra`` (``Visit.extras``, role = its name, e.g. ``raw_t1ce``, ``uncertainty``).
    """

    __tablename__ = "volumes"
    __table_args__ = (UniqueConstraint("visit_id", "slot", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    visit_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("visits.id", ondelete="CASCADE"), index=True
    )
    slot: Mapped[str] = mapped_column(String(16))

    visit: Mapped[VisitRow] = relationship(back_populates="volumes")


class ArtifactRow(Base):
    """A derived result (posterior, forecast, report, …) with a JSON payload and volumes."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(
        String(PATIENT_ID_LENGTH), ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    visit_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("visits.id", ondelete="CASCADE"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(ROLE_LENGTH))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    volumes: Mapped[list[ArtifactVolumeRow]] = relationship(
        back_populates="artifact", cascade="all, delete-orphan", passive_deletes=True
    )


class ArtifactVolumeRow(_VolumeColumns, Base):
    """A volume belonging to an artifact (e.g. a forecast density map); ``role`` is its name."""

    __tablename__ = "artifact_volumes"
    __table_args__ = (UniqueConstraint("artifact_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    artifact_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("artifacts.id", ondelete="CASCADE"), index=True
    )

    artifact: Mapped[ArtifactRow] = relationship(back_populates="volumes")


class EventRow(Base):
    """Provenance: what was done to a patient's twin, when, and by which braintwin version."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(
        String(PATIENT_ID_LENGTH), ForeignKey("patients.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    braintwin_version: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# The service's tables share this metadata (one schema, one migration history); imported last
# because they build on the classes above.
from braintwin.store import service_models as _service_models  # noqa: E402, F401
