"""Staged, all-or-nothing publication of volume files into ``home/objects``.

A write first puts its new files in a private ``home/staging/<random>/`` folder (slow gzip work,
done before the database transaction opens), then — holding the home's object lock — moves them
into ``objects/`` and commits the transaction. If anything fails, the files it moved in are
removed again while the lock is still held, so no other writer can have come to rely on them.
The same lock guards garbage collection, so an object is never deleted while a writer is about
to reference it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from braintwin.atomic import PRIVATE_DIR, PRIVATE_FILE, crash_point
from braintwin.store.locks import _flock, file_lock
from braintwin.store.objects import CanonicalVolume, object_relpath, write_object

__all__ = ["OBJECTS_LOCK", "STAGING_DIR", "Staging", "lock_path", "objects_lock", "staging_in_use"]

STAGING_DIR = "staging"
OBJECTS_LOCK = ".objects.lock"


def objects_lock(home: Path) -> contextlib.AbstractContextManager[None]:
    """Exclusive inter-process lock over ``home/objects`` (a no-op where fcntl is missing)."""
    return file_lock(home / OBJECTS_LOCK)


def _move(src: Path, dst: Path) -> None:
    # Same filesystem (both under home), so the rename is atomic.
    os.replace(src, dst)


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block is done (main thread, POSIX; else a no-op)."""
    mask = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "pthread_sigmask"
    ):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, mask)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def lock_path(folder: Path) -> Path:
    """The lock file of a staging folder: ``staging/<id>.lock`` beside ``staging/<id>/``."""
    return folder.with_name(folder.name + ".lock")


def staging_in_use(folder: Path) -> bool:
    """Whether a live writer holds the staging ``folder``.

    A writer locks ``<id>.lock`` *before* it creates the folder and removes the folder before
    the lock file, so a folder whose lock file is missing or free belongs to a dead process
    (a lock dies with its process).
    """
    try:
        fd = os.open(lock_path(folder), os.O_RDWR)
    except OSError:
        return False
    try:
        return not _flock(fd, blocking=False)
    finally:
        os.close(fd)


class Staging:
    """The files one write will add to the object store."""

    def __init__(self, home: Path, volumes: Iterable[CanonicalVolume]) -> None:
        self.home = home
        # One entry per content address: identical volumes in one write share a file.
        self.volumes = {cv.sha256: cv for cv in volumes}
        self.dir = home / STAGING_DIR / uuid.uuid4().hex
        self._published: list[Path] = []
        self._made_dirs: list[Path] = []
        self._fd: int | None = None

    def _open_dir(self) -> None:
        # The folder is locked while this writer lives, so garbage collection never takes it.
        if self._fd is None:
            self.dir.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
            self._fd = os.open(lock_path(self.dir), os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
            _flock(self._fd, blocking=True)
            self.dir.mkdir(mode=PRIVATE_DIR, exist_ok=True)

    def _staged(self, sha256: str) -> Path:
        return self.dir / f"{sha256}.nii.gz"

    def _target(self, sha256: str) -> Path:
        return self.home / object_relpath(sha256)

    def write(self) -> None:
        """Write the files whose objects do not exist yet into the staging folder."""
        for sha, cv in self.volumes.items():
            if not self._target(sha).exists():
                self._open_dir()
                write_object(cv, self._staged(sha))
        crash_point("objects-staged")

    def commit(self, commit_db: Callable[[], None]) -> None:
        """Move staged files into ``objects/`` and run ``commit_db``, atomically together."""
        with objects_lock(self.home):
            committed = False
            try:
                self._publish()
                crash_point("objects-published")
                with _interrupts_deferred():
                    # Ctrl-C between the commit and the flag would remove committed files.
                    commit_db()
                    committed = True
            except BaseException:
                if not committed:
                    self._unpublish()
                raise
        crash_point("db-committed")

    def _publish(self) -> None:
        for sha, cv in self.volumes.items():
            target = self._target(sha)
            if target.exists():
                continue  # deduplicated: an identical volume is already stored
            staged = self._staged(sha)
            if not staged.exists():
                # The object existed when staging started but was garbage-collected since.
                self._open_dir()
                write_object(cv, staged)
            if not target.parent.is_dir():
                target.parent.mkdir(mode=PRIVATE_DIR, parents=True)
                self._made_dirs.append(target.parent)
            _move(staged, target)
            self._published.append(target)

    def _unpublish(self) -> None:
        for path in reversed(self._published):
            path.unlink(missing_ok=True)
        for d in reversed(self._made_dirs):
            with contextlib.suppress(OSError):
                d.rmdir()  # only succeeds when empty
        self._published.clear()
        self._made_dirs.clear()

    def discard(self) -> None:
        """Forget everything staged (files moved into objects/ were removed by ``commit``)."""
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._fd is not None:
            lock_path(self.dir).unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None
