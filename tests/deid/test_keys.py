"""Pseudonyms, date offsets, UID remapping and the installation secret."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from braintwin.deid import (
    SECRET_FILENAME,
    date_offset_days,
    load_or_create_secret,
    pseudonym,
    remap_uid,
)
from braintwin.errors import ConfigurationError, InputError

SECRET = bytes(range(32))
OTHER = bytes(range(1, 33))


def test_pseudonym_format_and_stability() -> None:
    p = pseudonym("MRN-0042-XYZ", SECRET)
    assert re.fullmatch(r"BT-[A-Z2-7]{10}", p)
    assert pseudonym("MRN-0042-XYZ", SECRET) == p
    assert pseudonym(" MRN-0042-XYZ ", SECRET) == p  # whitespace is not identity
    assert pseudonym("MRN-0043-XYZ", SECRET) != p
    assert pseudonym("MRN-0042-XYZ", OTHER) != p
    assert "0042" not in p


def test_pseudonym_rejects_empty_id_and_short_secret() -> None:
    with pytest.raises(InputError):
        pseudonym("  ", SECRET)
    with pytest.raises(ConfigurationError):
        pseudonym("x", b"short")


def test_date_offsets_in_range_and_per_patient() -> None:
    offsets = [date_offset_days(f"patient-{i}", SECRET) for i in range(400)]
    assert all(-365 <= o <= -30 for o in offsets)
    assert len(set(offsets)) > 150  # spread over the range, not a constant
    assert date_offset_days("patient-7", SECRET) == offsets[7]
    assert (
        date_offset_days("patient-7", OTHER) != offsets[7]
        or date_offset_days("patient-8", OTHER) != offsets[8]
    )


def test_remap_uid_is_valid_and_consistent() -> None:
    uid = "1.2.840.113619.2.55.3.604688119.969.1268071029.320"
    new = remap_uid(uid, SECRET)
    assert new.startswith("2.25.") and len(new) <= 64
    assert re.fullmatch(r"2\.25\.[1-9][0-9]*", new)
    assert remap_uid(uid, SECRET) == new
    assert remap_uid(uid + "1", SECRET) != new
    assert remap_uid(uid, OTHER) != new


def test_secret_created_once_with_private_permissions(tmp_path: Path) -> None:
    home = tmp_path / "home"
    key = load_or_create_secret(home)
    path = home / SECRET_FILENAME
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(home) == key
    assert not [p for p in home.iterdir() if p.name != SECRET_FILENAME]  # no temp files left
    os.chmod(path, 0o644)
    assert load_or_create_secret(home) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secret_differs_between_installations(tmp_path: Path) -> None:
    assert load_or_create_secret(tmp_path / "a") != load_or_create_secret(tmp_path / "b")


def test_corrupt_secret_is_refused(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILENAME).write_text("not hex at all")
    with pytest.raises(ConfigurationError, match="secret"):
        load_or_create_secret(tmp_path)
    (tmp_path / SECRET_FILENAME).write_text("abcd")
    with pytest.raises(ConfigurationError, match="too short"):
        load_or_create_secret(tmp_path)


_CREATE = "import sys; from braintwin.deid import load_or_create_secret as f; f(sys.argv[1])\n"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **extra}


@pytest.mark.parametrize("signal_name", ["KILL", "INT"])
def test_kill_while_the_key_is_created_leaves_no_copy(tmp_path: Path, signal_name: str) -> None:
    home = tmp_path / "home"
    env = _env(BRAINTWIN_TEST_KILL_AT=f"secret-written:{signal_name}")
    run = subprocess.run(
        [sys.executable, "-c", _CREATE, str(home)], env=env, capture_output=True, check=False
    )
    assert run.returncode != 0, "the kill point was not reached"
    assert list(home.iterdir()) == []  # neither the key nor any temporary copy of it
    key = load_or_create_secret(home)
    assert [p.name for p in home.iterdir()] == [SECRET_FILENAME]
    assert load_or_create_secret(home) == key


def test_named_fallback_also_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Where unnamed files are unavailable, a named temporary copy is linked then removed;
    # a stale one (left by a kill) is removed by the next creation.
    import braintwin.deid.keys as keys

    monkeypatch.setattr(keys, "_link_anonymous", lambda home, path: False)
    home = tmp_path / "home"
    home.mkdir()
    stale = home / ".secret.0123456789ab.tmp.key"
    stale.write_text("00" * 32)
    os.utime(stale, (1_000_000_000, 1_000_000_000))
    key = load_or_create_secret(home)
    assert [p.name for p in home.iterdir()] == [SECRET_FILENAME]
    assert stat.S_IMODE((home / SECRET_FILENAME).stat().st_mode) == 0o600
    assert load_or_create_secret(home) == key


def test_concurrent_first_uses_agree_on_one_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code = _CREATE.replace("f(sys.argv[1])", "print(f(sys.argv[1]).hex())")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(home)], env=_env(), stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    keys = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(keys) == 1 and keys == {(home / SECRET_FILENAME).read_text().strip()}
    assert [p.name for p in home.iterdir()] == [SECRET_FILENAME]
