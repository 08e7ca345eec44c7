"""``braintwin bench api``: throughput and latency of the REST API through a real server.

A throw-away home gets one admin, one patient with a SYNTHETIC visit (a skull-stripped sphere
phantom with a label map, ingested through the twin like any upload), and a uvicorn server on
127.0.0.1 in a subprocess (``braintwin serve --no-worker``, audit included).
Then each endpoint is hit for ``seconds`` by 1 and by 8 concurrent clients (threads with their
own HTTP connection); requests/s and the 95th-percentile latency are reported.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["free_port", "make_phantom", "run_bench", "wait_for_server"]

_CLI = "from braintwin.cli import main; main()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_phantom(folder: Path, size: int = 48, seed: int = 0) -> tuple[Path, Path]:
    """A skull-stripped FLAIR-like sphere phantom with a two-label tumour, and its labels."""
    import nibabel as nib

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    c = size / 2
    z, y, x = np.mgrid[:size, :size, :size]
    r = np.sqrt((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2)
    brain = r < 0.45 * size
    tumour = r < 0.12 * size
    image = (brain * (100 + rng.normal(0, 5, r.shape)) + tumour * 50).astype(np.float32)
    labels = (r < 0.08 * size).astype(np.uint8) + 2 * (tumour & (r >= 0.08 * size))
    affine = np.diag([1.5, 1.5, 1.5, 1.0])
    img, seg = folder / "flair.nii.gz", folder / "seg.nii.gz"
    nib.save(nib.Nifti1Image(image, affine), str(img))
    nib.save(nib.Nifti1Image(labels.astype(np.uint8), affine), str(seg))
    return img, seg


def wait_for_server(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    import httpx

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start in time")


def _prepare(home: Path, size: int, db_url: str | None) -> tuple[str, str, str]:
    """Admin token, patient pseudonym and visit date in a fresh home (and ``db_url``: a
    scratch database; the bench's account and patient get random names)."""
    from braintwin.api import accounts
    from braintwin.api.db import ServiceDB
    from braintwin.store import Store
    from braintwin.twin import IngestOptions, Twin
    from braintwin.types import Modality

    store = Store.open(url=db_url, home=home)
    db = ServiceDB(store.engine)
    tag = os.urandom(4).hex()
    accounts.add_user(db, f"bench-{tag}", "admin", "bench-password-" + os.urandom(8).hex())
    accounts.add_team(db, "bench")
    _, token = accounts.create_api_token(db, f"bench-{tag}", "bench", 1)
    img, seg = make_phantom(home / "phantom", size)
    twin = Twin.open(f"bench-patient-{tag}", store=store, create=True)
    opts = IngestOptions(
        modality=Modality.FLAIR,
        segment=None,
        classify=False,
        update_model=False,
        n4=False,
        segmentation=seg,
    )
    res = twin.add_visit(img, dt.date(2020, 1, 1), options=opts)
    accounts.assign_patient(db, twin.id, "bench")
    store.close()
    return token, twin.id, str(res.date)


def _measure(url: str, token: str, clients: int, seconds: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        mine: list[float] = []
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = c.get(url)
                _ = r.content
                mine.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    with lock:
                        errors[0] += 1
        with lock:
            latencies.extend(mine)

    t0 = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / wall, 1),
        "p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 1) if latencies else None,
        "errors": errors[0],
    }


def run_bench(
    *,
    seconds: float = 3.0,
    size: int = 96,
    db_url: str | None = None,
    echo: Callable[[str], Any] = print,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="braintwin-bench-") as tmp:
        home = Path(tmp) / "home"
        token, pid, date = _prepare(home, size, db_url)
        port = free_port()
        env = {**os.environ, "BRAINTWIN_HOME": str(home)}
        env.pop("BRAINTWIN_DB_URL", None)
        if db_url:
            env["BRAINTWIN_DB_URL"] = db_url
        proc = subprocess.Popen(
            [sys.executable, "-c", _CLI, "serve", "--no-worker", "--port", str(port)], env=env
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_server(base, proc)
            api = f"{base}/api/v1"
            targets = {
                "patient_list": f"{api}/patients",
                "measurements": f"{api}/patients/{pid}/visits/{date}/measurements",
                "volume_download": f"{api}/patients/{pid}/visits/{date}/volumes/flair",
            }
            results: dict[str, Any] = {}
            for name, url in targets.items():
                for clients in (1, 8):
                    r = _measure(url, token, clients, seconds)
                    results[f"{name}_c{clients}"] = r
                    echo(
                        f"{name:16s} {clients} client(s): {r['requests_per_s']:8.1f} req/s, "
                        f"p95 {r['p95_ms']} ms, errors {r['errors']}"
                    )
            vol = (home / "objects").rglob("*.nii.gz")
            size_b = max((p.stat().st_size for p in vol), default=0)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {
        "seconds_per_level": seconds,
        "volume_edge_voxels": size,
        "largest_volume_file_bytes": size_b,
        "backend": "postgresql" if db_url else "sqlite",
        "cpu_count": os.cpu_count(),
        **results,
    }
