"""Run a virtual trial on Dask distributed: one task per patient, stored as it finishes.

By default a ``LocalCluster`` of worker processes on this machine (one thread each: the
solver is single-threaded numba, and processes sidestep the GIL); ``scheduler="tcp://HOST:PORT"``
uses an existing cluster instead (``dask scheduler`` plus ``dask worker tcp://HOST:PORT`` on
any machine that can import braintwin). Patients are drawn on the client from the seed, so
every run of the same settings simulates the same patients; only those not yet in the
results folder are submitted. Each finished patient is written atomically before the next
result is taken, so Ctrl-C (or a killed client) loses only patients still running.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from braintwin.cohort.patients import draw_cohort
from braintwin.cohort.results import ResultsFolder
from braintwin.cohort.spec import ArmSpec, PatientOutcome, PatientSpec, TrialSettings
from braintwin.cohort.task import run_patient
from braintwin.errors import InputError
from braintwin.parallel import usable_cores

__all__ = ["TrialRun", "connect", "run_trial"]

CONNECT_TIMEOUT_S = 10.0
WORKERLESS_TIMEOUT_S = 120.0  # a cluster whose workers all left: give up after this long
SINGLE_THREAD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class TrialRun:
    """What one call of :func:`run_trial` did."""

    out: Path
    n: int
    computed: int
    already_done: int
    seconds: float
    workers: int
    scheduler: str

    @property
    def patients_per_s(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0


def _start_hint(address: str) -> str:
    return (
        f"start one with `dask scheduler` and `dask worker {address}` "
        "(each with braintwin importable), or leave out --scheduler for a local cluster"
    )


@contextlib.contextmanager
def connect(
    scheduler: str | None = None,
    workers: int | None = None,
    *,
    timeout_s: float = CONNECT_TIMEOUT_S,
) -> Iterator[Any]:
    """A Dask ``Client``: to ``scheduler`` if given, else to a new ``LocalCluster`` of
    ``workers`` processes (default: this machine's cores), one thread each."""
    from distributed import Client

    if scheduler is not None:
        if not scheduler.startswith(("tcp://", "tls://", "inproc://")) or ":" not in scheduler[6:]:
            raise InputError(
                f"cannot read the scheduler address {scheduler!r}", "give tcp://HOST:PORT"
            )
        try:
            client = Client(scheduler, timeout=timeout_s)
        except (OSError, TimeoutError) as err:
            raise InputError(
                f"cannot reach the Dask scheduler at {scheduler} ({type(err).__name__})",
                _start_hint(scheduler),
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers if workers is not None else usable_cores()
    if n < 1:
        raise InputError(f"--workers must be at least 1, not {n}")
    with warnings.catch_warnings():  # another cluster's port in use: Dask picks a free one
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = _local_cluster(n)
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def _local_cluster(n: int) -> Any:
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
        # One core per worker: numba's own thread pool would otherwise oversubscribe them.
        env=dict(SINGLE_THREAD_ENV),
    )


def _wait_for_workers(client: Any, label: str, timeout_s: float) -> None:
    if client.scheduler_info().get("workers"):
        return
    try:
        client.wait_for_workers(1, timeout=timeout_s)
    except TimeoutError:
        raise InputError(
            f"the Dask scheduler at {label} has no workers", _start_hint(label)
        ) from None


def _finished(
    client: Any, futures: list[Any], label: str, workerless_timeout_s: float
) -> Iterator[Any]:
    """Futures as they finish; an error once the cluster has had no worker for
    ``workerless_timeout_s`` (Dask itself would wait for one forever)."""
    from distributed import as_completed

    pending = as_completed(futures)
    alone_since: float | None = None
    while not pending.is_empty():
        batch = pending.next_batch(block=False)
        if batch:
            alone_since = None
            yield from batch
            continue
        if client.scheduler_info().get("workers"):
            alone_since = None
        elif alone_since is None:
            alone_since = time.monotonic()
        elif time.monotonic() - alone_since > workerless_timeout_s:
            raise InputError(
                f"every Dask worker of {label} has gone for {workerless_timeout_s:.0f} s",
                "start `dask worker` again and rerun the same command to resume",
            )
        time.sleep(0.2)


def _result(fut: Any, label: str) -> PatientOutcome:
    """A finished task's outcome; cluster failures become one-line errors."""
    from distributed.client import FutureCancelledError

    try:
        outcome: PatientOutcome = fut.result()
    except ModuleNotFoundError as err:
        raise InputError(
            f"the Dask workers cannot import {err.name!r}",
            "start `dask worker` in an environment where braintwin is installed",
        ) from None
    except (FutureCancelledError, OSError) as err:
        raise InputError(
            f"lost the Dask cluster {label} ({type(err).__name__})",
            "finished patients are stored; rerun the same command to resume",
        ) from None
    return outcome


def run_trial(
    out: Path,
    settings: TrialSettings,
    arms: Sequence[ArmSpec],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[str, float], None] | None = None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    workerless_timeout_s: float = WORKERLESS_TIMEOUT_S,
) -> TrialRun:
    """Run (or resume) the trial into the results folder ``out``; returns what was done.

    ``progress(message, fraction)`` is called once per finished patient; an exception it
    raises (``KeyboardInterrupt`` from Ctrl-C included) stops the run after that patient
    was stored, cancelling the rest.
    """
    arms = tuple(arms)
    if not arms:
        raise InputError("a trial needs at least one arm", "use e.g. --arms stupp,rt")
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise InputError(f"arm names must differ: {','.join(names)}")
    folder = ResultsFolder(Path(out))
    folder.open(settings, arms, create=False)
    t0 = time.perf_counter()
    done = folder.done() & set(range(settings.n))
    todo = [i for i in range(settings.n) if i not in done]
    label = scheduler or "local"
    if not todo:
        return TrialRun(folder.root, settings.n, 0, len(done), 0.0, 0, label)
    patients = draw_cohort(settings)
    computed = 0
    with connect(scheduler, workers, timeout_s=connect_timeout_s) as client:
        _wait_for_workers(client, label, connect_timeout_s)
        folder.open(settings, arms)
        n_workers = len(client.scheduler_info().get("workers", {}))
        specs = [PatientSpec(i, patients[i], arms, settings) for i in todo]
        futures = [client.submit(run_patient, s, pure=False) for s in specs]
        if progress is not None:
            progress(
                f"{len(done)}/{settings.n} patients ({label}, {n_workers} workers)",
                len(done) / settings.n,
            )
        try:
            for fut in _finished(client, futures, label, workerless_timeout_s):
                outcome = _result(fut, label)
                folder.write(outcome)
                computed += 1
                if progress is not None:
                    finished = len(done) + computed
                    progress(
                        f"{finished}/{settings.n} patients ({label}, {n_workers} workers)",
                        finished / settings.n,
                    )
        except BaseException:
            client.cancel(futures)
            raise
    return TrialRun(
        folder.root,
        settings.n,
        computed,
        len(done),
        time.perf_counter() - t0,
        n_workers,
        label,
    )
