"""Store hygiene: owner-only files, clean-up of killed writes on open and by gc, verify."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

from typer.testing import CliRunner

from braintwin.cli import _register_all, app
from braintwin.store import Store
from braintwin.store.staging import Staging

OLD = 1_000_000_000  # an mtime far in the past: older than every grace period


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_new_store_is_owner_only(home: Path, h) -> None:
    old_umask = os.umask(0o022)  # the usual default, which would give 0644 / 0755
    try:
        with Store.open(home=home) as st:
            st.save_visit("BT-PERM", h.visit(), digest="a" * 64)
            st.save_artifact("BT-PERM", "forecast", {"x": 1}, volumes={"v": h.visit().reference})
            st.patient_lock("BT-PERM").__enter__()  # creates locks/BT-PERM.lock
            for name in ("braintwin.db", "braintwin.db-wal", "braintwin.db-shm"):
                assert _mode(home / name) == 0o600, name
    finally:
        os.umask(old_umask)
    assert _mode(home) == 0o700
    for d in ("objects", "staging", "locks"):
        assert _mode(home / d) == 0o700, d
    files = h.object_files(home)
    assert files and all(_mode(p) == 0o600 for p in files)
    assert all(_mode(p.parent) == 0o700 for p in files)
    assert _mode(home / "locks" / "BT-PERM.lock") == 0o600
    with Store.open(home=home) as st:
        assert st.verify().not_private == []


def _leftovers(home: Path, h) -> dict[str, Path]:
    """What killed writes leave: staging folders, an orphan object, temporary files."""
    stale = home / "staging" / "dead0001"
    stale.mkdir()
    (stale / "x.nii.gz").write_bytes(b"partial")
    young = home / "staging" / "young001"  # just killed: its lock died with it
    young.mkdir()
    stray = home / "staging" / "new00001.lock"  # a writer about to create its folder
    stray.write_bytes(b"")
    orphan = home / "objects" / "ff" / ("f" * 64 + ".nii.gz")
    orphan.parent.mkdir()
    orphan.write_bytes(b"orphan")
    tmp_old = home / "objects" / "ff" / (".abc.0123456789ab.tmp.nii.gz")
    tmp_old.write_bytes(b"t")
    tmp_young = home / ".secret.0123456789ab.tmp.key"
    tmp_young.write_bytes(b"t")
    for p in (stale, tmp_old):
        os.utime(p, (OLD, OLD))
    return {
        "stale": stale,
        "young": young,
        "stray": stray,
        "orphan": orphan,
        "tmp_old": tmp_old,
        "tmp_young": tmp_young,
    }


def test_open_cleans_leftovers_of_killed_writes_but_not_live_ones(home: Path, h) -> None:
    with Store.open(home=home) as st:
        st.save_visit("BT-GC", h.visit(), digest="b" * 64)
        live = Staging(home, [])
        live._open_dir()  # a writer in progress holds its staging folder
        os.utime(live.dir, (OLD, OLD))
        left = _leftovers(home, h)
    try:
        with Store.open(home=home) as st:
            assert not left["stale"].exists()
            assert not left["orphan"].exists()
            assert not left["tmp_old"].exists()
            assert not left["young"].exists()
            assert left["stray"].exists()  # may belong to a writer that has not locked it yet
            assert left["tmp_young"].exists()  # may belong to a live writer
            assert live.dir.exists()
            assert len(st.load_patient("BT-GC").visits) == 1
    finally:
        live.close()


def test_gc_and_verify_report_what_they_find(home: Path, h) -> None:
    with Store.open(home=home) as st:
        st.save_visit("BT-V", h.visit(), digest="c" * 64)
        st.save_visit("BT-V", h.visit(dt.date(2021, 1, 1)), digest="d" * 64)
        assert st.verify().ok
        left = _leftovers(home, h)
        files = h.object_files(home)
        missing, corrupt = files[0], files[1]
        missing.unlink()
        corrupt.write_bytes(b"not a nifti file")
        report = st.verify()
        assert not report.ok
        assert report.missing == [missing.relative_to(home).as_posix()]
        assert report.corrupt == [corrupt.relative_to(home).as_posix()]
        assert report.orphan_objects == [left["orphan"].relative_to(home).as_posix()]
        assert len(report.temp_files) == 2 and len(report.staging) == 3

        dry = st.gc(dry_run=True)
        assert dry.orphan_objects and left["orphan"].exists()
        done = st.gc()
        assert done.orphan_objects == dry.orphan_objects
        assert done.staging == ["staging/dead0001", "staging/young001"]
        assert done.temp_files == ["objects/ff/.abc.0123456789ab.tmp.nii.gz"]
        assert not left["orphan"].exists() and not left["stale"].exists()


def test_store_cli_gc_and_verify(home: Path, h) -> None:
    with Store.open(home=home) as st:  # the `home` fixture set $BRAINTWIN_HOME
        st.save_visit("BT-CLI", h.visit(), digest="e" * 64)
    _register_all()
    runner = CliRunner()
    res = runner.invoke(app, ["store", "verify"])
    assert res.exit_code == 0 and "\nok\n" in res.output
    orphan = home / "objects" / "ff" / ("f" * 64 + ".nii.gz")
    orphan.parent.mkdir()
    orphan.write_bytes(b"orphan")
    res = runner.invoke(app, ["store", "verify"])
    assert res.exit_code == 2 and "orphan object: objects/ff/" in res.output
    res = runner.invoke(app, ["store", "gc", "--dry-run"])
    assert res.exit_code == 0 and "would remove orphan object: objects/ff/" in res.output
    assert orphan.exists()
    res = runner.invoke(app, ["store", "gc"])
    assert res.exit_code == 0 and "removed orphan object: objects/ff/" in res.output
    assert not orphan.exists()
    assert runner.invoke(app, ["store", "verify"]).exit_code == 0


def test_gc_removes_display_renditions_of_volumes_no_longer_stored(home: Path, h) -> None:
    from braintwin.store.objects import RENDITIONS_DIR

    with Store.open(home=home) as st:
        st.save_visit("BT-R", h.visit(), digest="e" * 64)
        kept_sha = h.object_files(home)[0].name.removesuffix(".nii.gz")
        gone_sha = "0" * 64
        cache = home / RENDITIONS_DIR
        kept = cache / kept_sha[:2] / f"{kept_sha}.d3.nii.gz"
        gone = cache / gone_sha[:2] / f"{gone_sha}.d3.nii.gz"
        other = cache / "00" / "notes.txt"  # not a rendition: never touched
        for p in (kept, gone, other):
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"x" * 10)
        dry = st.gc(dry_run=True)
        assert dry.stale_renditions == [gone.relative_to(home).as_posix()] and gone.exists()
        done = st.gc()
        assert done.stale_renditions == dry.stale_renditions and done.bytes_freed >= 10
        assert kept.exists() and other.exists() and not gone.exists()
