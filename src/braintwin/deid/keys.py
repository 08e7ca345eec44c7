"""Per-installation secret and the keyed functions derived from it.

Everything pseudonymous in braintwin (patient pseudonyms, date shifts, remapped DICOM UIDs) is an
HMAC-SHA256 of the original value under one secret key kept in ``$BRAINTWIN_HOME/secret.key``.
The same input and key always give the same output, so re-ingesting a series maps it to the
same pseudonym and UIDs, while without the key the originals cannot be recovered or confirmed
by brute force over the (small) space of plausible patient IDs.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from braintwin.atomic import PRIVATE_DIR, crash_point, fsync_dir, is_temp_name, temp_path
from braintwin.errors import ConfigurationError, InputError

__all__ = [
    "SECRET_FILENAME",
    "date_offset_days",
    "hmac_digest",
    "load_or_create_secret",
    "pseudonym",
    "remap_uid",
]

SECRET_FILENAME = "secret.key"
_SECRET_BYTES = 32
# Date shifts lie in [-365, -30] days: far enough to break linkage by date, never in the future,
# and one constant per patient so intervals between visits are preserved exactly.
_OFFSET_MIN, _OFFSET_MAX = -365, -30
_STALE_TEMP_S = 600  # an older temporary key file belongs to a killed process


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes | bytearray) or len(secret) < 16:
        raise ConfigurationError(
            "de-identification secret must be at least 16 bytes",
            "use load_or_create_secret(home) to get the installation's key",
        )


def _normalise_id(patient_id: str) -> bytes:
    pid = str(patient_id).strip()
    if not pid:
        raise InputError("empty patient identifier", "give a non-empty patient ID")
    return pid.encode("utf-8")


def hmac_digest(secret: bytes, purpose: str, value: bytes) -> bytes:
    """HMAC-SHA256 of ``value`` under ``secret``, domain-separated by ``purpose``."""
    _check_secret(secret)
    return hmac.new(bytes(secret), purpose.encode() + b"\x00" + value, hashlib.sha256).digest()


def pseudonym(patient_id: str, secret: bytes) -> str:
    """Stable pseudonym ``"BT-"`` + 10 base32 characters (50 bits) of HMAC-SHA256(patient_id)."""
    digest = hmac_digest(secret, "pseudonym", _normalise_id(patient_id))
    return "BT-" + base64.b32encode(digest).decode("ascii")[:10]


def date_offset_days(patient_id: str, secret: bytes) -> int:
    """The patient's date shift in days, in [-365, -30]; the same for every visit."""
    digest = hmac_digest(secret, "date-offset", _normalise_id(patient_id))
    span = _OFFSET_MAX - _OFFSET_MIN + 1
    return _OFFSET_MIN + int.from_bytes(digest[:8], "big") % span


def remap_uid(uid: str, secret: bytes) -> str:
    """A new DICOM UID ``2.25.<int>`` derived from ``uid`` by HMAC (PS3.5 B.2 UUID-derived form).

    128 bits of the HMAC give at most 39 decimal digits, so the UID stays within 64 characters.
    """
    digest = hmac_digest(secret, "dicom-uid", str(uid).strip().encode("ascii", "replace"))
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _new_key_text() -> bytes:
    return (secrets.token_hex(_SECRET_BYTES) + "\n").encode("ascii")


def _link_anonymous(home: Path, path: Path) -> bool:
    """Create ``path`` from an unnamed file (``O_TMPFILE``): a kill leaves no copy anywhere.

    Returns False where the platform or file system cannot do it (the caller falls back).
    """
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not Path("/proc/self/fd").is_dir():
        return False
    try:
        fd = os.open(home, flag | os.O_WRONLY, 0o600)
    except OSError:
        return False
    try:
        os.write(fd, _new_key_text())
        os.fsync(fd)
        crash_point("secret-written")
        proc = os.open("/proc/self/fd", os.O_RDONLY)
        try:
            # linkat(AT_SYMLINK_FOLLOW) through /proc gives the unnamed file its name; it fails
            # with FileExistsError when another process created the key first: use theirs.
            os.link(str(fd), path, src_dir_fd=proc, follow_symlinks=True)
        except FileExistsError:
            pass
        except OSError:
            return False
        finally:
            os.close(proc)
    finally:
        os.close(fd)
    fsync_dir(home)
    return True


def _link_named(home: Path, path: Path) -> None:
    """Fallback: a named temporary file hard-linked into place, then removed."""
    tmp = temp_path(path)
    for old in home.glob(".secret.*"):
        # Leftovers of a write killed before it could remove its temporary copy.
        with contextlib.suppress(OSError):
            if is_temp_name(old.name) and time.time() - old.stat().st_mtime > _STALE_TEMP_S:
                old.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, _new_key_text())
            os.fsync(fd)
        finally:
            os.close(fd)
        crash_point("secret-written")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # fails if another process won the race: use theirs
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(home)


def load_or_create_secret(home: Path) -> bytes:
    """The installation's secret key from ``home/secret.key``, created on first use.

    The key is written (mode 0600) and synced to an unnamed file that is then linked into
    place (``O_TMPFILE`` + ``linkat``), so a process killed meanwhile leaves no copy of the key
    behind, concurrent first uses agree on one key (the link fails for all but the first) and
    nobody ever reads a half-written file. Where unnamed files are not available, a named
    temporary file is linked and removed instead (stale ones are removed on the next call).
    """
    home = Path(home)
    path = home / SECRET_FILENAME
    if not path.exists():
        home.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        if not _link_anonymous(home, path):
            _link_named(home, path)
    if path.stat().st_mode & 0o077:
        # Someone loosened the permissions; the key must stay private to its owner.
        os.chmod(path, 0o600)
    try:
        text = path.read_text().strip()
        key = bytes.fromhex(text)
    except (OSError, ValueError) as err:
        raise ConfigurationError(
            f"cannot read the de-identification secret {path}",
            "restore it from backup; without it pseudonyms and date shifts change",
        ) from err
    if len(key) < 16:
        raise ConfigurationError(
            f"de-identification secret {path} is too short",
            "restore it from backup; without it pseudonyms and date shifts change",
        )
    return key
