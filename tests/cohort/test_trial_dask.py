"""Virtual trials on Dask: a tiny trial on a real LocalCluster, resume, bad input, and a
separately started ``dask scheduler`` + ``dask worker`` pair."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from braintwin.calibrate.trial import draw_patients
from braintwin.cohort import (
    ResultsFolder,
    TrialSettings,
    draw_cohort,
    parse_arms,
    run_patient,
    run_trial,
)
from braintwin.cohort.spec import PatientSpec
from braintwin.errors import InputError

# The ball brain and assumed residuals: exactly `eval population`'s patients, and fast.
TINY = TrialSettings(n=4, resolution_mm=8.0, horizon_days=182.0, brain="ball", sizes="residual")
ARMS = parse_arms("stupp,rt")


class _StopAfter:
    """A progress callback that presses Ctrl-C after ``k`` stored patients."""

    def __init__(self, k: int) -> None:
        self.k, self.seen = k, 0

    def __call__(self, message: str, fraction: float) -> None:
        if "patients" in message and fraction > 0:
            self.seen += 1
            if self.seen >= self.k:
                raise KeyboardInterrupt


@pytest.fixture(scope="module")
def full_trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trial") / "full"
    run = run_trial(out, TINY, ARMS, workers=2)
    assert run.computed == 4 and run.already_done == 0 and run.workers == 2
    return out


def test_tiny_trial_on_a_local_cluster(full_trial: Path) -> None:
    folder = ResultsFolder(full_trial)
    outcomes = folder.load()
    assert [o.index for o in outcomes] == [0, 1, 2, 3]
    manifest = json.loads(folder.manifest_path.read_text())
    assert manifest["synthetic"] and manifest["settings"]["n"] == 4
    assert [a["name"] for a in manifest["arms"]] == ["stupp", "rt"]
    for o in outcomes:
        assert set(o.arms) == {"stupp", "rt"}
        assert len(o.arms["stupp"].tc_ml) == 27  # weekly, days 0..182
    # The same patients as `eval population` (same seed), and the cluster ran the same engine
    # as an in-process call.
    assert draw_cohort(TINY) == draw_patients(4, np.random.default_rng(0))
    local = run_patient(PatientSpec(2, draw_cohort(TINY)[2], ARMS, TINY))
    assert local == outcomes[2]
    # A re-run finds everything stored and computes nothing (no cluster is even started).
    again = run_trial(full_trial, TINY, ARMS, workers=2)
    assert again.computed == 0 and again.already_done == 4


@pytest.mark.slow
def test_resume_after_interrupt_computes_only_the_rest(full_trial: Path, tmp_path: Path) -> None:
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run_trial(out, TINY, ARMS, workers=2, progress=_StopAfter(2))
    stored = len(ResultsFolder(out).done())
    assert stored == 2  # the two finished before Ctrl-C; nothing half-written
    assert not [p for p in (out / "patients").iterdir() if p.name.startswith(".")]
    run = run_trial(out, TINY, ARMS, workers=2)
    assert run.already_done == 2 and run.computed == 2
    assert ResultsFolder(out).load() == ResultsFolder(full_trial).load()


def test_a_folder_of_another_trial_is_refused(full_trial: Path, tmp_path: Path) -> None:
    other = dataclasses.replace(TINY, seed=1)
    with pytest.raises(InputError, match=re.escape("seed=0 (now 1)")):
        run_trial(full_trial, other, ARMS, workers=1)
    with pytest.raises(InputError, match=re.escape("arms=stupp,rt (now rt,stupp)")):
        run_trial(full_trial, TINY, parse_arms("rt,stupp"), workers=1)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a trial results folder"):
        run_trial(junk, TINY, ARMS, workers=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_scheduler_is_a_one_line_error(tmp_path: Path) -> None:
    addr = f"tcp://127.0.0.1:{_free_port()}"
    out = tmp_path / "t"
    with pytest.raises(InputError) as err:
        run_trial(out, TINY, ARMS, scheduler=addr, connect_timeout_s=2.0)
    msg = str(err.value)
    assert addr in msg and "dask scheduler" in msg and "dask worker" in msg and "\n" not in msg
    assert not out.exists()  # nothing written before the cluster answered
    with pytest.raises(InputError, match="tcp://HOST:PORT"):
        run_trial(out, TINY, ARMS, scheduler="localhost")


def test_trial_cli_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from braintwin.cli import main

    cases = (
        ["trial", "run", str(tmp_path / "a"), "--arms", "stupp,chemo"],
        ["trial", "run", str(tmp_path / "a"), "--n", "1"],
        ["trial", "run", str(tmp_path / "a"), "--brain", "mni", "--resolution", "2.5"],
        ["trial", "report", str(tmp_path / "nothing")],
    )
    for args in cases:
        with pytest.raises(SystemExit) as ex:
            main(args)
        assert ex.value.code == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``dask scheduler`` and one ``dask worker``, started as a user would (subprocesses)."""
    dask = Path(sys.executable).with_name("dask")
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    common = ["--scheduler-file", str(sched_file), "--no-dashboard"]
    procs = [
        subprocess.Popen(
            [str(dask), "scheduler", "--host", "127.0.0.1", "--port", "0", *common],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        procs.append(
            subprocess.Popen(
                [str(dask), "worker", "--nthreads", "1", "--no-nanny", *common],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        yield address, procs[1]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.slow
def test_trial_on_a_separately_started_dask_cluster_killed_and_resumed(
    dask_cluster: tuple[str, subprocess.Popen[bytes]], full_trial: Path, tmp_path: Path
) -> None:
    address, _ = dask_cluster
    out = tmp_path / "external"
    with pytest.raises(KeyboardInterrupt):
        run_trial(out, TINY, ARMS, scheduler=address, progress=_StopAfter(1))
    assert len(ResultsFolder(out).done()) == 1
    run = run_trial(out, TINY, ARMS, scheduler=address, connect_timeout_s=60.0)
    assert run.computed == 3 and run.already_done == 1 and run.scheduler == address
    assert ResultsFolder(out).load() == ResultsFolder(full_trial).load()


@pytest.mark.slow
def test_trial_cli_run_and_report_print_the_json_contract(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from braintwin.cli import _register_all, app

    _register_all()
    out = tmp_path / "cli"
    args = ["trial", "run", str(out), "--n", "3", "--resolution", "8", "--years", "0.5"]
    res = CliRunner().invoke(app, [*args, "--brain", "ball", "--workers", "1"])
    assert res.exit_code == 0, res.output
    run = json.loads(res.output.strip().splitlines()[-1])
    assert run["run"]["computed"] == 3 and run["run"]["workers"] == 1 and run["n"] == 3
    assert set(run["arms"]) == {"stupp", "rt"} and "stupp vs rt" in run["hazard_ratios"]
    rep = CliRunner().invoke(app, ["trial", "report", str(out)])
    assert rep.exit_code == 0, rep.output
    assert json.loads(rep.output.strip().splitlines()[-1])["arms"] == run["arms"]
    # Same folder, other settings: refused in one line (the default brain is mni).
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code != 0 and "holds another trial" in str(bad.exception)


@pytest.mark.slow
def test_a_cluster_whose_workers_all_left_is_a_one_line_error(
    dask_cluster: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    address, worker = dask_cluster

    # The only worker dies mid-run: a one-line error once the cluster stayed workerless.
    def kill_worker(message: str, fraction: float) -> None:
        if worker.poll() is None:
            worker.kill()

    lonely = tmp_path / "lonely"
    with pytest.raises(InputError, match="every Dask worker"):
        run_trial(
            lonely,
            dataclasses.replace(TINY, n=6),
            ARMS,
            scheduler=address,
            progress=kill_worker,
            workerless_timeout_s=3.0,
        )
    assert len(ResultsFolder(lonely).done()) < 6
