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
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from braintwin.store.objects import CanonicalVolume, object_relpath, write_object

__all__ = ["STAGING_DIR", "Staging", "objects_lock"]

STAGING_DIR = "staging"
_LOCK_FILE = ".objects.lock"


@contextlib.contextmanager
def objects_lock(home: Path) -> Iterator[None]:
    """Exclusive inter-process lock over ``home/objects`` (a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(home / _LOCK_FILE, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _move(src: Path, dst: Path) -> None:
    # Same filesystem (both under home), so the rename is atomic.
    os.replace(src, dst)


class Staging:
    """The files one write will add to the object store."""

    def __init__(self, home: Path, volumes: Iterable[CanonicalVolume]) -> None:
        self.home = home
        # One entry per content address: identical volumes in one write share a file.
        self.volumes = {cv.sha256: cv for cv in volumes}
        self.dir = home / STAGING_DIR / uuid.uuid4().hex
        self._published: list[Path] = []
        self._made_dirs: list[Path] = []

    def _staged(self, sha256: str) -> Path:
        return self.dir / f"{sha256}.nii.gz"

    def _target(self, sha256: str) -> Path:
        return self.home / object_relpath(sha256)

    def write(self) -> None:
        """Write the files whose objects do not exist yet into the staging folder."""
        for sha, cv in self.volumes.items():
            if not self._target(sha).exists():
                self.dir.mkdir(parents=True, exist_ok=True)
                write_object(cv, self._staged(sha))

    def commit(self, commit_db: Callable[[], None]) -> None:
        """Move staged files into ``objects/`` and run ``commit_db``, atomically together."""
        with objects_lock(self.home):
            try:
                self._publish()
                commit_db()
            except BaseException:
                self._unpublish()
                raise

    def _publish(self) -> None:
        for sha, cv in self.volumes.items():
            target = self._target(sha)
            if target.exists():
                continue  # deduplicated: an identical volume is already stored
            staged = self._staged(sha)
            if not staged.exists():
                # The object existed when staging started but was garbage-collected since.
                write_object(cv, staged)
            if not target.parent.is_dir():
                target.parent.mkdir(parents=True)
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
