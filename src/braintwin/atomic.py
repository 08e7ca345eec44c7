"""Atomic file writes: a file appears complete, or not at all, and private by default.

Every file braintwin writes goes through this module. A write goes to a unique hidden
temporary name in the target's folder (``.<name>.<12 hex>.tmp<suffix>``, created with
``O_EXCL``, so two writers never share one), is flushed to disk (``fsync``), given its final
mode and moved over the target with ``os.replace`` (atomic on POSIX within one file system);
the folder is then synced so the rename itself survives a power cut. On any failure,
``KeyboardInterrupt`` included, the temporary file is removed. Only a ``SIGKILL`` (or a power
cut) can leave one behind; :func:`is_temp_name` recognises such leftovers, and the store's
garbage collection removes those under its home.

Files are created owner-only (``0600``) unless a caller passes ``mode`` (``None`` honours the
process umask, as ``open()`` does).

:func:`crash_point` is the hook the crash-consistency tests use to kill a process at a named
point; it does nothing unless ``$BRAINTWIN_TEST_KILL_AT`` is set.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, TextIO, overload

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "atomic_open",
    "atomic_write",
    "atomic_write_with",
    "crash_point",
    "fsync_dir",
    "is_temp_name",
    "temp_path",
]

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_TEMP_RE = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp(\.[A-Za-z0-9.]+)?$")
KILL_ENV = "BRAINTWIN_TEST_KILL_AT"
_hits: dict[str, int] = {}


def _suffix(path: Path) -> str:
    # Libraries choose the format from the extension (nibabel: .nii.gz, numpy: .npz).
    sfx = path.suffixes[-2:] if path.suffix.lower() == ".gz" else path.suffixes[-1:]
    return "".join(sfx)


def temp_path(path: str | os.PathLike[str]) -> Path:
    """A fresh hidden temporary name beside ``path`` that keeps its extension."""
    p = Path(path)
    sfx = _suffix(p)
    stem = p.name[: len(p.name) - len(sfx)] if sfx else p.name
    return p.with_name(f".{stem}.{secrets.token_hex(6)}.tmp{sfx}")


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file of this module (a leftover of a killed write)."""
    return _TEMP_RE.match(name) is not None


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (a rename or link in it) to disk; best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


def _reserve(path: Path, mode: int | None) -> Path:
    """Create the unique temporary file (empty, ``O_EXCL``) and return its name."""
    for _ in range(100):
        tmp = temp_path(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"no free temporary name beside {path.name}")  # pragma: no cover


def _publish(tmp: Path, path: Path, mode: int | None) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if mode is not None:
        # A library may have replaced our reserved file (created under the umask).
        os.chmod(tmp, mode)
    crash_point("atomic-write")
    os.replace(tmp, path)
    fsync_dir(path.parent)


def atomic_write_with(
    path: str | os.PathLike[str],
    writer: Callable[[Path], Any],
    *,
    mode: int | None = PRIVATE_FILE,
) -> Path:
    """Atomically create ``path`` with ``writer(tmp)``, a function that writes a whole file.

    For libraries that write to a path themselves (``nib.save``, ``torch.save``, ``np.savez``,
    ``pydicom``'s ``save_as``, SimpleITK): the temporary name keeps ``path``'s extension. The
    parent folder is created when missing. Returns ``path``.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = _reserve(p, mode)
    try:
        writer(tmp)
        _publish(tmp, p, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


@overload
def atomic_open(
    path: str | os.PathLike[str],
    mode: Literal["w"] = "w",
    *,
    perm: int | None = PRIVATE_FILE,
    encoding: str | None = None,
    newline: str | None = None,
) -> contextlib.AbstractContextManager[TextIO]: ...


@overload
def atomic_open(
    path: str | os.PathLike[str],
    mode: Literal["wb"],
    *,
    perm: int | None = PRIVATE_FILE,
    encoding: str | None = None,
    newline: str | None = None,
) -> contextlib.AbstractContextManager[BinaryIO]: ...


def atomic_open(
    path: str | os.PathLike[str],
    mode: str = "w",
    *,
    perm: int | None = PRIVATE_FILE,
    encoding: str | None = None,
    newline: str | None = None,
) -> contextlib.AbstractContextManager[IO[Any]]:
    """``with atomic_open(path, "w") as fh: ...``: the file appears when the block succeeds.

    ``mode`` is ``"w"`` (text, UTF-8 unless ``encoding``) or ``"wb"``; ``perm`` is the file's
    mode (``None``: the umask decides).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    return _atomic_open(Path(path), mode, perm, encoding, newline)


@contextlib.contextmanager
def _atomic_open(
    p: Path, mode: str, perm: int | None, encoding: str | None, newline: str | None
) -> Iterator[IO[Any]]:
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = _reserve(p, perm)
    try:
        if mode == "w":
            with open(tmp, "w", encoding=encoding or "utf-8", newline=newline) as fh:
                yield fh
        else:
            with open(tmp, "wb") as fb:
                yield fb
        _publish(tmp, p, perm)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | str,
    *,
    mode: int | None = PRIVATE_FILE,
    encoding: str = "utf-8",
) -> Path:
    """Atomically write ``data`` (bytes, or text encoded with ``encoding``) to ``path``."""
    raw = data.encode(encoding) if isinstance(data, str) else bytes(data)
    with atomic_open(path, "wb", perm=mode) as fh:
        fh.write(raw)
    return Path(path)


def crash_point(name: str) -> None:
    """Test hook: kill this process at the named point when ``$BRAINTWIN_TEST_KILL_AT`` asks.

    The variable holds ``POINT[@N][:SIGNAL]``: the ``N``-th time (default 1) the process
    passes ``POINT``, it sends itself ``SIGNAL`` (``KILL``, default, or ``INT``). Unset (as in
    production), this is one dictionary lookup.
    """
    want = os.environ.get(KILL_ENV)
    if not want:
        return
    spec, _, sig = want.partition(":")
    point, _, nth = spec.partition("@")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] != int(nth or 1):
        return
    if sig.upper() == "INT":
        # A process started in the background by a non-interactive shell inherits SIGINT
        # ignored; the hook stands for a user's Ctrl-C, so interrupt as a terminal would.
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        os.kill(os.getpid(), signal.SIGINT)
    else:
        os.kill(os.getpid(), signal.SIGKILL)
