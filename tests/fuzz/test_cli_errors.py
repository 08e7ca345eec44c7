"""The CLI's top level: one line per error, a private crash log, --debug, Ctrl-C and memory."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import NoReturn

import pytest

import braintwin.cli as cli
from braintwin.errors import InputError

ARGV = ["ingest", "/data/Doe_Jane_MRN4242/visit1", "--patient", "MRN4242"]


def _raising(exc: BaseException):  # type: ignore[no-untyped-def]
    def fake_app(args: list[str] | None = None) -> NoReturn:
        raise exc

    return fake_app


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, home: Path):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli, "_registered", True)

    def install(exc: BaseException) -> None:
        monkeypatch.setattr(cli, "app", _raising(exc))

    return install


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    return int(exit_.value.code or 0), capsys.readouterr().err


def test_unexpected_error_one_line_and_private_log(
    fake, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    fake(RuntimeError("boom reading /data/Doe_Jane_MRN4242/visit1/t1.nii.gz for MRN4242"))
    code, err = _run(ARGV, capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "unexpected internal error (RuntimeError)" in lines[0]
    assert "Traceback" not in err and "Doe_Jane" not in err and "MRN4242" not in err
    log = home / "logs" / "braintwin-error.log"
    assert str(log) in lines[0]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    text = log.read_text()
    assert "Traceback" in text and "RuntimeError: boom reading <arg 1>/t1.nii.gz" in text
    assert "Doe_Jane" not in text and "MRN4242" not in text


def test_debug_shows_the_traceback(fake, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    fake(RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["--debug", *ARGV])


def test_braintwin_error_exit_2(fake, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    fake(InputError("t1.nii.gz is corrupt", "re-export it"))
    code, err = _run(ARGV, capsys)
    assert code == 2 and err.strip() == "error: t1.nii.gz is corrupt (re-export it)"


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(130)])
def test_interrupt_exit_130(fake, capsys: pytest.CaptureFixture[str], exc: BaseException) -> None:  # type: ignore[no-untyped-def]
    fake(exc)
    code, err = _run(ARGV, capsys)
    assert code == 130 and err.strip() == "interrupted"


def test_memory_error_one_line_with_hint(fake, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    fake(MemoryError())
    code, err = _run(ARGV, capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "out of memory" in err
    assert "BRAINTWIN_MAX_VOLUME_BYTES" in err


def test_real_bad_input_through_the_cli(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "scan_t1ce.nii.gz"
    bad.write_bytes(b"\x1f\x8b" + bytes(100))  # a gzip magic and nothing valid
    code, err = _run(["ingest", str(bad), "--patient", "P1", "--date", "2020-01-01"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_bench_fuzz_json_last_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["bench", "fuzz", "--n", "6", "--seed", "5"])
    assert exit_.value.code in (0, None)
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert result["n"] == 6 and sum(result["outcomes"].values()) == 6
    assert set(result["outcomes"]) == {"ok", "error", "escape", "hang", "over_allocation"}
