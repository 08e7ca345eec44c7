"""``braintwin.atomic``: whole files or nothing, unique temporary names, owner-only modes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from braintwin.atomic import (
    atomic_open,
    atomic_write,
    atomic_write_with,
    is_temp_name,
    temp_path,
)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_write_replaces_whole_file_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.json"
    atomic_write(target, '{"a": 1}\n')
    assert target.read_text() == '{"a": 1}\n' and _mode(target) == 0o600
    atomic_write(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "shared.txt", "x", mode=None)  # the umask decides
    finally:
        os.umask(old)
    assert _mode(tmp_path / "shared.txt") == 0o644


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failure_keeps_old_file_and_leaves_no_temporary(tmp_path: Path, exc: type) -> None:
    target = tmp_path / "table.csv"
    target.write_text("old")

    def writer(tmp: Path) -> None:
        tmp.write_text("half")
        raise exc("disk full")

    with pytest.raises(exc):
        atomic_write_with(target, writer)
    with pytest.raises(exc), atomic_open(target, "w") as fh:
        fh.write("half")
        raise exc("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_writer_callback_keeps_the_extension_libraries_need(tmp_path: Path) -> None:
    seen: list[str] = []

    def savez(tmp: Path) -> None:
        seen.append(tmp.name)
        np.savez(tmp, x=np.arange(3))  # numpy appends .npz unless the name ends with it

    out = atomic_write_with(tmp_path / "cache.npz", savez)
    assert np.load(out)["x"].tolist() == [0, 1, 2]
    assert seen[0].endswith(".tmp.npz") and is_temp_name(seen[0])
    assert temp_path(tmp_path / "v.nii.gz").name.endswith(".tmp.nii.gz")
    assert [p.name for p in tmp_path.iterdir()] == ["cache.npz"]
    assert _mode(out) == 0o600  # even though np.savez created the file itself


def test_temporary_names_are_unique_and_recognised(tmp_path: Path) -> None:
    names = {temp_path(tmp_path / "secret.key").name for _ in range(200)}
    assert len(names) == 200
    assert all(n.startswith(".secret.") and is_temp_name(n) for n in names)
    for name in ("secret.key", "a.tmp", ".hidden", "x.nii.gz", ".x.tmp"):
        assert not is_temp_name(name)


def test_concurrent_writers_never_clash(tmp_path: Path) -> None:
    target = tmp_path / "same.txt"
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for _ in range(20):
                atomic_write(target, f"writer {i}\n" * 1000)
        except BaseException as err:  # pragma: no cover - the failure reported below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    lines = set(target.read_text().splitlines())
    assert len(lines) == 1  # one writer's whole content, never a mix
    assert [p.name for p in tmp_path.iterdir()] == ["same.txt"]


def test_crash_point_kills_only_when_asked(tmp_path: Path) -> None:
    code = (
        "import sys; from braintwin.atomic import atomic_write\n"
        "for i in range(3): atomic_write(sys.argv[1] + f'/f{i}', 'x')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, check=False)
    assert run.returncode == 0 and len(list(tmp_path.iterdir())) == 3
    for p in tmp_path.iterdir():
        p.unlink()
    env["BRAINTWIN_TEST_KILL_AT"] = "atomic-write@2"
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, check=False)
    assert run.returncode == -9
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[1] == "f0" and is_temp_name(names[0])  # "." sorts first
    env["BRAINTWIN_TEST_KILL_AT"] = "atomic-write:INT"
    run = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "int")],
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode in (1, -2) and "KeyboardInterrupt" in run.stderr
    assert list((tmp_path / "int").iterdir()) == []  # the interrupted write cleaned up
