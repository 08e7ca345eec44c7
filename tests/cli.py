"""Running the ``braintwin`` command line in-process from tests."""

from __future__ import annotations

import pytest

from braintwin.cli import main

__all__ = ["run"]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    try:
        main(args)
        code = 0
    except SystemExit as ex:
        code = int(ex.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
