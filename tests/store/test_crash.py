"""Crash consistency: ``braintwin ingest`` killed at named points leaves a store that verifies.

A real subprocess ingests the shipped demo case and kills itself (``SIGKILL``, or ``SIGINT`` as
Ctrl-C would) at a point named in ``$BRAINTWIN_TEST_KILL_AT`` (see ``braintwin.atomic.
crash_point``): while the secret key is created, while an object file is written, after the
objects are staged, after they are published but before the database commit, and after the
commits. Afterwards every stored row's objects exist and match their checksums; a SIGINT leaves
nothing else behind, a SIGKILL's leftovers are removed by gc (run on the next open); and running
the same ingest again completes with exactly one visit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from braintwin.store import Store

DEMO = Path(__file__).resolve().parents[2] / "src/braintwin/data/demo/Brats18_2013_3_1"
FAST = ["--segment", "none", "--no-classify", "--no-update", "--no-n4"]
_MAIN = "import sys; from braintwin.cli import main; main(sys.argv[1:])"


def _ingest(home: Path, kill_at: str | None, extra: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "BRAINTWIN_HOME": str(home)}
    env.pop("BRAINTWIN_DB_URL", None)
    env.pop("BRAINTWIN_TEST_KILL_AT", None)
    if kill_at:
        env["BRAINTWIN_TEST_KILL_AT"] = kill_at
    args = ["ingest", str(DEMO), "--patient", "CRASH-1", "--date", "2020-01-01", *extra]
    return subprocess.run(
        [sys.executable, "-c", _MAIN, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _n_visits(home: Path) -> int:
    with Store.open(home=home, tidy=False) as st:
        return sum(p.n_visits for p in st.list_patients())


# (kill point, visit stored when killed there)
POINTS = {
    "secret-written": False,
    "atomic-write@2": False,  # the second object file, mid-write (temporary file complete)
    "objects-staged": False,
    "objects-published": False,  # files in objects/, rows not committed
    "db-committed@1": True,  # the visit committed, its provenance event not yet
    "db-committed@2": True,
}
SLOW = [pytest.mark.slow]
QUICK = {("objects-published", "KILL"), ("db-committed@1", "INT")}
CASES = [
    pytest.param(point, sig, id=f"{point}-{sig}", marks=[] if (point, sig) in QUICK else SLOW)
    for point in POINTS
    for sig in ("KILL", "INT")
]


@pytest.mark.parametrize(("point", "signal_name"), CASES)
def test_killed_ingest_leaves_a_store_that_verifies(
    tmp_path: Path, point: str, signal_name: str
) -> None:
    if not DEMO.is_dir():
        pytest.skip("the shipped demo case is missing")
    home = tmp_path / "home"
    run = _ingest(home, f"{point}:{signal_name}", FAST)
    if signal_name == "KILL":
        assert run.returncode == -9, run.stderr[-2000:]
    else:  # Ctrl-C: a one-line message and the conventional exit status
        assert run.returncode == 130, run.stderr[-2000:]
        assert "Traceback" not in run.stderr
    assert _n_visits(home) == int(POINTS[point])

    with Store.open(home=home, tidy=False) as st:
        found = st.verify()
        # Whatever the rows reference is there and intact, whatever the moment of the kill.
        assert found.missing == [] and found.corrupt == []
        if signal_name == "INT":  # an interrupted write cleans up after itself
            assert found.ok, found.to_dict()
        st.gc()
        assert st.verify().ok
        assert [p.name for p in home.glob(".secret*")] == []  # no copy of the key

    again = _ingest(home, None, FAST)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "visit" in again.stdout
    assert _n_visits(home) == 1
    with Store.open(home=home, tidy=False) as st:
        assert st.verify().ok
        visit = st.load_patient(st.list_patients()[0].id).visits[0]
        assert len(visit.volumes) == 4 and visit.brain_mask is not None


@pytest.mark.slow
def test_ingest_with_defaults_killed_during_the_model_update(tmp_path: Path) -> None:
    # Segmentation, classification and the model update run; the kill comes after the
    # posterior's commit (the 5th: visit, event, classification, event, posterior).
    if not DEMO.is_dir():
        pytest.skip("the shipped demo case is missing")
    home = tmp_path / "home"
    run = _ingest(home, "db-committed@5:KILL", ["--no-n4"])
    assert run.returncode == -9, run.stderr[-2000:]
    assert _n_visits(home) == 1
    with Store.open(home=home, tidy=False) as st:
        found = st.verify()
        assert found.missing == [] and found.corrupt == []
        st.gc()
        assert st.verify().ok
    again = _ingest(home, None, ["--no-n4"])
    assert again.returncode == 0, again.stderr[-2000:]
    assert _n_visits(home) == 1
    with Store.open(home=home, tidy=False) as st:
        assert st.verify().ok
