"""The service's command line: accounts (no default, password from stdin), tokens, audit."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from braintwin.cli import main


def run(
    args: list[str], capsys: pytest.CaptureFixture[str], stdin: str = ""
) -> tuple[int, str, str]:
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


def test_users_tokens_and_audit_from_the_shell(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["users", "list"], capsys)
    assert code == 0 and out == ""  # no built-in account
    pw = "a long enough passphrase\n"
    args = ["users", "add", "alice", "--role", "admin", "--password-stdin"]
    assert run(args, capsys, pw)[0] == 0
    args = ["users", "add", "bob", "--role", "clinician", "--team", "neuro", "--password-stdin"]
    assert run(args, capsys, pw)[0] == 0
    code, out, _ = run(["users", "list"], capsys)
    assert out.splitlines() == ["alice\tadmin\t", "bob\tclinician\tneuro"]
    code, _, err = run(["users", "add", "eve", "--role", "root", "--password-stdin"], capsys, pw)
    assert code == 2 and "unknown role 'root'" in err and len(err.splitlines()) == 1
    code, _, err = run(
        ["users", "add", "eve", "--role", "admin", "--password-stdin"], capsys, "short\n"
    )
    assert code == 2 and "too short" in err
    code, out, _ = run(["users", "token", "bob", "--name", "nightly"], capsys)
    assert code == 0 and out.strip().startswith("btk_")
    code, out, _ = run(["audit", "verify"], capsys)
    assert code == 0 and json.loads(out.splitlines()[-1])["ok"] is True
    code, _, err = run(["users", "join", "nobody", "neuro"], capsys)
    assert code == 2 and "no user 'nobody'" in err
    code, out, _ = run(["users", "disable", "bob"], capsys)
    assert code == 0 and "bob\tclinician (disabled)" in run(["users", "list"], capsys)[1]


def test_serve_refuses_half_a_tls_setup(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["serve", "--ssl-certfile", "cert.pem", "--no-worker"], capsys)
    assert code == 2 and "--ssl-keyfile" in err
