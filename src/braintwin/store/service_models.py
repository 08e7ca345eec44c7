"""Tables of the multi-user service (``braintwin serve``): accounts, teams, tokens, jobs, audit.

They share the store's ``Base`` (one schema, one Alembic history: migration ``0002``). Nothing
here holds a patient identifier: patients are named by their pseudonym everywhere, and the
audit trail records pseudonyms only.

* ``users``: local accounts; ``password_hash`` is an argon2id hash (never the password).
* ``teams`` / ``team_members`` / ``patient_teams``: care teams (clinicians) and research groups;
  a user sees the patients of the teams they belong to (admins see all).
* ``api_tokens``: revocable tokens for scripts; only their SHA-256 is stored.
* ``jobs``: the database job queue (ingest, model update, forecast, plan comparison and optimisation) with the lease a worker
  renews by heartbeat; an expired lease means the worker died and the job is retried or failed.
* ``audit``: append-only, hash-chained record of every request touching patient data (the
  migration adds triggers refusing UPDATE and DELETE).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from braintwin.store.models import PATIENT_ID_LENGTH, Base, utcnow

__all__ = [
    "ApiTokenRow",
    "AuditRow",
    "JobRow",
    "PatientTeamRow",
    "TeamMemberRow",
    "TeamRow",
    "UserRow",
]

NAME_LENGTH = 64


class UserRow(Base):
    """A local account with one role (``admin``, ``clinician`` or ``researcher``)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TeamRow(Base):
    """A care team or research group."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TeamMemberRow(Base):
    """A user's membership of a team."""

    __tablename__ = "team_members"

    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )


class PatientTeamRow(Base):
    """A patient's assignment to a team (a patient may belong to several)."""

    __tablename__ = "patient_teams"

    patient_id: Mapped[str] = mapped_column(
        String(PATIENT_ID_LENGTH), ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )


class ApiTokenRow(Base):
    """A revocable API token; ``token_sha256`` is the hash of the secret shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class JobRow(Base):
    """A background job. ``status``: queued → running → done | failed.

    A running job holds ``lease_until``; its worker renews it by heartbeat. A lease that ran out
    means the worker died: the job is queued again (``attempts`` < ``max_attempts``) or failed
    with that reason.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    patient_id: Mapped[str | None] = mapped_column(
        String(PATIENT_ID_LENGTH), nullable=True, index=True
    )
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=2)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(255), default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    worker: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditRow(Base):
    """One audited request. ``hash`` = SHA-256 over ``prev_hash`` and this record's fields.

    ``actor`` is the account name (for a failed login: the name that was typed), ``patient_id``
    a pseudonym (never an identifier), ``outcome`` the HTTP status.
    """

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(NAME_LENGTH))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    patient_id: Mapped[str | None] = mapped_column(String(PATIENT_ID_LENGTH), nullable=True)
    visit: Mapped[str | None] = mapped_column(String(32), nullable=True)
    artifact: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    outcome: Mapped[int] = mapped_column(Integer)
    client: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
