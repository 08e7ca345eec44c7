"""Accounts, teams and who may see which patient.

Roles: ``admin`` (accounts, audit, every patient, the identifier lookup), ``clinician``
(reads and writes the patients of their care teams), ``researcher`` (reads the pseudonymised
data of the patients of their research teams, and cohort summaries; never writes, never the
identifier lookup). There is no built-in account: the first admin is created on the command
line (``braintwin users add NAME --role admin``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from braintwin.api.db import ServiceDB
from braintwin.api.security import hash_password, new_api_token, token_digest
from braintwin.errors import InputError, NotFoundError
from braintwin.store.models import PatientRow, utcnow
from braintwin.store.service_models import (
    ApiTokenRow,
    PatientTeamRow,
    TeamMemberRow,
    TeamRow,
    UserRow,
)

__all__ = [
    "ROLES",
    "Principal",
    "add_member",
    "add_team",
    "add_user",
    "api_token_user",
    "assign_patient",
    "check_name",
    "create_api_token",
    "list_api_tokens",
    "list_users",
    "patient_teams",
    "principal_for",
    "revoke_api_token",
    "set_active",
    "team_id",
    "user_by_name",
    "visible_patients",
]

ROLES = ("admin", "clinician", "researcher")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: int
    name: str
    role: str
    teams: frozenset[int]
    via: str  # "jwt" or "api-token"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_write(self) -> bool:
        return self.role in ("admin", "clinician")


def check_name(name: str, what: str) -> str:
    if not _NAME.match(name or ""):
        raise InputError(
            f"invalid {what} name",
            "use 2-64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def _team(s: Session, name: str) -> TeamRow:
    row = s.scalar(select(TeamRow).where(TeamRow.name == name))
    if row is None:
        raise NotFoundError(f"no team {name!r}", "create it with `braintwin users team-add NAME`")
    return row


def _user(s: Session, name: str) -> UserRow:
    row = s.scalar(select(UserRow).where(UserRow.name == name))
    if row is None:
        raise NotFoundError(f"no user {name!r}", "`braintwin users list` shows the accounts")
    return row


def add_team(db: ServiceDB, name: str) -> bool:
    """Create a team; False when it exists already."""
    check_name(name, "team")
    with db.writing() as s:
        if s.scalar(select(TeamRow).where(TeamRow.name == name)) is not None:
            return False
        s.add(TeamRow(name=name, created_at=utcnow()))
    return True


def add_user(
    db: ServiceDB, name: str, role: str, password: str, teams: list[str] | None = None
) -> int:
    """Create an account (teams are created when missing); returns its id."""
    check_name(name, "user")
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}", f"use one of: {', '.join(ROLES)}")
    pw_hash = hash_password(password)
    for team in teams or []:
        add_team(db, team)
    with db.writing() as s:
        if s.scalar(select(UserRow).where(UserRow.name == name)) is not None:
            raise InputError(f"the user {name!r} exists already", "choose another name")
        user = UserRow(name=name, role=role, password_hash=pw_hash, active=True)
        user.created_at = utcnow()
        s.add(user)
        s.flush()
        for team in teams or []:
            s.add(TeamMemberRow(user_id=user.id, team_id=_team(s, team).id))
        return user.id


def add_member(db: ServiceDB, user: str, team: str) -> None:
    with db.writing() as s:
        u, t = _user(s, user), _team(s, team)
        if s.get(TeamMemberRow, (u.id, t.id)) is None:
            s.add(TeamMemberRow(user_id=u.id, team_id=t.id))


def set_active(db: ServiceDB, user: str, active: bool) -> None:
    with db.writing() as s:
        _user(s, user).active = active


def list_users(db: ServiceDB) -> list[tuple[str, str, bool, list[str]]]:
    with db.reading() as s:
        rows = s.scalars(select(UserRow).order_by(UserRow.name)).all()
        out = []
        for u in rows:
            teams = s.scalars(
                select(TeamRow.name)
                .join(TeamMemberRow, TeamMemberRow.team_id == TeamRow.id)
                .where(TeamMemberRow.user_id == u.id)
                .order_by(TeamRow.name)
            ).all()
            out.append((u.name, u.role, u.active, list(teams)))
        return out


def assign_patient(db: ServiceDB, patient_id: str, team: str) -> None:
    with db.writing() as s:
        if s.get(PatientRow, patient_id) is None:
            raise NotFoundError("no such patient")
        t = _team(s, team)
        if s.get(PatientTeamRow, (patient_id, t.id)) is None:
            s.add(PatientTeamRow(patient_id=patient_id, team_id=t.id))


def team_id(db: ServiceDB, name: str) -> int | None:
    with db.reading() as s:
        return s.scalar(select(TeamRow.id).where(TeamRow.name == name))


def patient_teams(db: ServiceDB, patient_id: str) -> set[int]:
    with db.reading() as s:
        rows = s.scalars(
            select(PatientTeamRow.team_id).where(PatientTeamRow.patient_id == patient_id)
        )
        return set(rows)


def visible_patients(db: ServiceDB, who: Principal) -> dict[str, list[str]] | None:
    """Pseudonym -> team names of the patients ``who`` may see; ``None``: all (admin)."""
    stmt = select(PatientTeamRow.patient_id, TeamRow.name).join(
        TeamRow, TeamRow.id == PatientTeamRow.team_id
    )
    if not who.is_admin:
        stmt = stmt.where(PatientTeamRow.team_id.in_(who.teams))
    out: dict[str, list[str]] = {}
    with db.reading() as s:
        for pid, team in s.execute(stmt):
            out.setdefault(pid, []).append(team)
    return out


def principal_for(db: ServiceDB, user_id: int, via: str) -> Principal | None:
    """The active account ``user_id`` with its teams, or ``None``."""
    with db.reading() as s:
        user = s.get(UserRow, user_id)
        if user is None or not user.active:
            return None
        teams = s.scalars(select(TeamMemberRow.team_id).where(TeamMemberRow.user_id == user.id))
        return Principal(user.id, user.name, user.role, frozenset(teams), via)


def user_by_name(db: ServiceDB, name: str) -> tuple[int, str, bool] | None:
    """(id, password hash, active) of an account."""
    with db.reading() as s:
        user = s.scalar(select(UserRow).where(UserRow.name == name))
        return None if user is None else (user.id, user.password_hash, user.active)


def create_api_token(db: ServiceDB, user: str, name: str, days: int) -> tuple[int, str]:
    """A new API token for ``user`` valid ``days`` days: (id, secret shown once)."""
    check_name(name, "token")
    if not 1 <= days <= 3650:
        raise InputError("token lifetime out of range", "give 1-3650 days")
    token, digest = new_api_token()
    with db.writing() as s:
        u = _user(s, user)
        now = utcnow()
        row = ApiTokenRow(
            user_id=u.id,
            name=name,
            token_sha256=digest,
            created_at=now,
            expires_at=now + dt.timedelta(days=days),
        )
        s.add(row)
        s.flush()
        return row.id, token


def api_token_user(db: ServiceDB, token: str) -> int | None:
    """The account of a valid (unrevoked, unexpired) API token."""
    with db.reading() as s:
        row = s.scalar(select(ApiTokenRow).where(ApiTokenRow.token_sha256 == token_digest(token)))
        if row is None or row.revoked_at is not None:
            return None
        expires = row.expires_at
        if expires is not None:
            if expires.tzinfo is None:  # SQLite returns naive UTC
                expires = expires.replace(tzinfo=dt.UTC)
            if expires < utcnow():
                return None
        return row.user_id


def list_api_tokens(db: ServiceDB, user_id: int) -> list[ApiTokenRow]:
    with db.reading() as s:
        return list(
            s.scalars(
                select(ApiTokenRow).where(ApiTokenRow.user_id == user_id).order_by(ApiTokenRow.id)
            )
        )


def revoke_api_token(db: ServiceDB, token_id: int, owner: int | None) -> bool:
    """Revoke a token (``owner``: only if it belongs to that user; ``None``: any)."""
    with db.writing() as s:
        row = s.get(ApiTokenRow, token_id)
        if row is None or (owner is not None and row.user_id != owner):
            return False
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return True
