"""Store hygiene: remove what killed writes left behind (``gc``) and check a store (``verify``).

A write killed by ``SIGKILL`` (or a power cut) can leave three kinds of leftovers in the
store's home; none is ever referenced by a row, so removing them loses nothing:

* a staging folder ``staging/<random>/`` with the files it was about to publish;
* object files it had already moved into ``objects/`` before its transaction committed;
* temporary files ``.<name>.<hex>.tmp…`` of :mod:`braintwin.atomic`.

Cleaning is safe while other processes use the store: a live writer holds a lock on its
staging folder (never removed while it lives; a dead writer's is removed at once), publishes
objects and commits under the objects lock that the orphan sweep also takes, and a temporary
file is only removed when older than ``TEMP_GRACE_S``. ``Store.open`` runs a cheap pass that
skips the orphan sweep while another process holds the objects lock.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from braintwin.atomic import is_temp_name
from braintwin.errors import StoreError
from braintwin.store.base import StoreBase
from braintwin.store.locks import try_file_lock
from braintwin.store.models import ArtifactVolumeRow, VolumeRow
from braintwin.store.objects import OBJECTS_DIR, RENDITIONS_DIR, object_relpath, read_object
from braintwin.store.staging import (
    OBJECTS_LOCK,
    STAGING_DIR,
    lock_path,
    objects_lock,
    staging_in_use,
)

__all__ = ["GcReport", "MaintenanceMixin", "VerifyReport"]

log = logging.getLogger("braintwin.store")

STAGING_GRACE_S = 60.0  # a staging lock file without its folder younger than this may be new
TEMP_GRACE_S = 600.0  # a temporary file younger than this may belong to a live writer
_OBJECT_RE = re.compile(r"^[0-9a-f]{64}\.nii\.gz$")
_RENDITION_RE = re.compile(r"^[0-9a-f]{64}\.[A-Za-z0-9]+\.nii\.gz$")


@dataclass
class GcReport:
    """What ``Store.gc`` removed (or, with ``dry_run``, would remove); paths relative to home."""

    dry_run: bool
    orphan_objects: list[str] = field(default_factory=list)
    staging: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    stale_renditions: list[str] = field(default_factory=list)  # display cache of gone volumes
    bytes_freed: int = 0
    skipped_busy: bool = False  # the orphan sweep was skipped: another writer held the lock

    @property
    def removed(self) -> int:
        return (
            len(self.orphan_objects)
            + len(self.staging)
            + len(self.temp_files)
            + len(self.stale_renditions)
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "removed": self.removed}


@dataclass
class VerifyReport:
    """The result of ``Store.verify``: problems found (paths relative to home)."""

    volume_rows: int = 0
    objects_checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    orphan_objects: list[str] = field(default_factory=list)
    temp_files: list[str] = field(default_factory=list)
    staging: list[str] = field(default_factory=list)
    staging_in_use: list[str] = field(default_factory=list)  # live writers: not a problem
    not_private: list[str] = field(default_factory=list)  # readable by others: a warning

    @property
    def ok(self) -> bool:
        return not (
            self.missing or self.corrupt or self.orphan_objects or self.temp_files or self.staging
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.lstat().st_mtime
    except OSError:
        return 0.0


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _object_files(home: Path) -> Iterator[Path]:
    for p in (home / OBJECTS_DIR).glob("*/*"):
        if _OBJECT_RE.match(p.name):
            yield p


def _temp_files(home: Path) -> Iterator[Path]:
    """Temporary files of killed writes in home and objects/ (staging is handled as folders)."""
    for folder in [home, *sorted(p for p in (home / OBJECTS_DIR).glob("*") if p.is_dir())]:
        for p in folder.iterdir():
            if p.is_file() and is_temp_name(p.name):
                yield p


class MaintenanceMixin(StoreBase):
    """``gc`` and ``verify``, and the cheap clean-up ``Store.open`` runs."""

    def _referenced_all(self) -> set[str]:
        with self._reading() as s:
            return self._referenced(s, None)

    def gc(self, *, dry_run: bool = False) -> GcReport:
        """Remove leftovers of killed writes: orphan objects, stale staging, temporary files.

        Safe while other processes use the store (see the module notes). With ``dry_run``
        nothing is removed and the report lists what would be.
        """
        report = self._sweep(dry_run=dry_run, wait_for_lock=True)
        self._sweep_renditions(report)
        return report

    def _sweep_renditions(self, report: GcReport) -> None:
        # A rendition is rebuilt on demand, so one whose volume row is gone is only waste; one
        # being written is a temporary file until its rename and does not match the pattern.
        files = [
            p
            for p in sorted((self.home / RENDITIONS_DIR).glob("*/*"))
            if _RENDITION_RE.match(p.name)
        ]
        if not files:
            return
        used = self._referenced_all()
        for p in files:
            if p.name.split(".", 1)[0] in used:
                continue
            report.stale_renditions.append(p.relative_to(self.home).as_posix())
            report.bytes_freed += _size(p)
            if not report.dry_run:
                p.unlink(missing_ok=True)

    def _tidy_on_open(self) -> GcReport | None:
        """The clean-up on open: never waits for a lock and never makes the open fail."""
        try:
            return self._sweep(dry_run=False, wait_for_lock=False)
        except Exception as err:  # e.g. a read-only home: the store is still usable
            log.warning("clean-up on open skipped (%s); run `braintwin store gc`", err)
            return None

    def _sweep(self, *, dry_run: bool, wait_for_lock: bool) -> GcReport:
        home = self.home
        report = GcReport(dry_run=dry_run)
        staging = home / STAGING_DIR
        for d in sorted(staging.iterdir()) if staging.is_dir() else []:
            if d.suffix == ".lock" and d.with_suffix("").exists():
                continue  # a folder's lock: handled with its folder
            if d.suffix == ".lock":
                # Without its folder: a writer between creating the lock and locking it, or one
                # killed after removing its folder. Only an old one is surely dead.
                if _age_s(d) < STAGING_GRACE_S or staging_in_use(d.with_suffix("")):
                    continue
            elif staging_in_use(d):
                continue
            report.staging.append(d.relative_to(home).as_posix())
            report.bytes_freed += _size(d)
            if not dry_run:
                if d.is_dir():
                    shutil.rmtree(d, ignore_errors=True)
                    lock_path(d).unlink(missing_ok=True)
                else:
                    d.unlink(missing_ok=True)
        for p in _temp_files(home):
            if _age_s(p) >= TEMP_GRACE_S:
                report.temp_files.append(p.relative_to(home).as_posix())
                report.bytes_freed += _size(p)
                if not dry_run:
                    p.unlink(missing_ok=True)
        if not any(True for _ in _object_files(home)):
            return report  # nothing to sweep (and no lock file to create)
        if wait_for_lock:
            with objects_lock(home):
                self._sweep_orphans(report)
        else:
            with try_file_lock(home / OBJECTS_LOCK) as held:
                if held:
                    self._sweep_orphans(report)
                else:
                    report.skipped_busy = True
        return report

    def _sweep_orphans(self, report: GcReport) -> None:
        # Under the objects lock: no writer is between publishing files and committing rows.
        files = list(_object_files(self.home))
        if not files:
            return
        used = self._referenced_all()
        for p in files:
            if p.name.removesuffix(".nii.gz") in used:
                continue
            report.orphan_objects.append(p.relative_to(self.home).as_posix())
            report.bytes_freed += _size(p)
            if not report.dry_run:
                p.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    p.parent.rmdir()  # only when empty

    def verify(self) -> VerifyReport:
        """Check the store: every row's object exists and matches its checksum, no orphan
        objects, no temporary files or staging leftovers (files readable by others: warning).
        """
        home = self.home
        report = VerifyReport()
        rows: dict[str, Any] = {}
        with self._reading() as s:
            found: list[VolumeRow | ArtifactVolumeRow] = [
                *s.scalars(select(VolumeRow)),
                *s.scalars(select(ArtifactVolumeRow)),
            ]
        for r in found:
            report.volume_rows += 1
            if r.path != object_relpath(r.sha256):
                report.corrupt.append(r.path)
            rows.setdefault(r.sha256, r)
        for sha, r in sorted(rows.items()):
            report.objects_checked += 1
            try:
                read_object(
                    home, r.path, sha256=sha, affine=r.affine, dtype=r.dtype, modality=r.modality
                )
            except StoreError as err:
                where = report.missing if "missing" in err.message else report.corrupt
                where.append(r.path)
        for p in _object_files(home):
            if p.name.removesuffix(".nii.gz") not in rows:
                report.orphan_objects.append(p.relative_to(home).as_posix())
            elif stat.S_IMODE(p.stat().st_mode) & 0o077:
                report.not_private.append(p.relative_to(home).as_posix())
        report.temp_files = [p.relative_to(home).as_posix() for p in _temp_files(home)]
        staging = home / STAGING_DIR
        for d in sorted(staging.iterdir()) if staging.is_dir() else []:
            rel = d.relative_to(home).as_posix()
            owner = d.with_suffix("") if d.suffix == ".lock" else d
            (report.staging_in_use if staging_in_use(owner) else report.staging).append(rel)
        for p in home.glob("braintwin.db*"):
            if stat.S_IMODE(p.stat().st_mode) & 0o077:
                report.not_private.append(p.name)
        return report
