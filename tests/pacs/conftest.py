"""A real Orthanc (Debian's package, with its DICOMweb plugin) started per test on 127.0.0.1.

Skips when Orthanc or the plugin is absent; in CI (``$CI`` set) that is a failure, since CI
installs both (``scripts/install-system.sh``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


@dataclass
class OrthancServer:
    """A running Orthanc: its REST base URL, DICOMweb root and (optional) credentials."""

    base: str
    auth: tuple[str, str] | None

    @property
    def dicomweb(self) -> str:
        return self.base + "/dicom-web"

    def get(self, path: str) -> Any:
        r = httpx.get(self.base + path, auth=self.auth, timeout=30)
        r.raise_for_status()
        return r.json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _require_orthanc() -> None:
    if ORTHANC.is_file() and DICOMWEB_PLUGIN.exists():
        return
    message = f"Orthanc with its DICOMweb plugin is not installed ({ORTHANC}, {DICOMWEB_PLUGIN})"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI installs it with scripts/install-system.sh")
    pytest.skip(message)


@pytest.fixture
def orthanc_factory(tmp_path: Path) -> Iterator[Callable[..., OrthancServer]]:
    """``orthanc_factory(users={"name": "password"})`` starts an Orthanc; all stop at teardown."""
    _require_orthanc()
    procs: list[subprocess.Popen[bytes]] = []

    def start(users: dict[str, str] | None = None) -> OrthancServer:
        folder = tmp_path / f"orthanc-{len(procs)}"
        folder.mkdir()
        port = free_port()
        config = {
            "Name": "braintwin-test",
            "HttpPort": port,
            "DicomServerEnabled": False,
            "StorageDirectory": str(folder / "db"),
            "IndexDirectory": str(folder / "db"),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(users),
            "RegisteredUsers": users or {},
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }
        (folder / "config.json").write_text(json.dumps(config))
        log = open(folder / "orthanc.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [str(ORTHANC), str(folder / "config.json")], stdout=log, stderr=subprocess.STDOUT
        )
        procs.append(proc)
        server = OrthancServer(
            f"http://127.0.0.1:{port}", next(iter(users.items())) if users else None
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"Orthanc exited: {(folder / 'orthanc.log').read_text()[-2000:]}")
            try:
                if httpx.get(server.base + "/system", auth=server.auth, timeout=2).is_success:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail("Orthanc did not answer /system within 30 s")

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def orthanc(orthanc_factory: Callable[..., OrthancServer]) -> OrthancServer:
    """An Orthanc without authentication."""
    return orthanc_factory()
