"""The job worker: claims jobs from the database queue and runs them through the ``Twin``.

One job at a time per worker process; start several for parallelism (``braintwin worker``).
While a job runs, a heartbeat thread renews its lease and publishes its progress. A worker
killed mid-job (even with SIGKILL) leaves no half-written twin — every store write is atomic and
re-running an ingest of the same images resumes it — and its job is recovered by the next
worker that finds the lease expired: queued again, or failed with the reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from braintwin.api import queue
from braintwin.api.db import ServiceDB
from braintwin.api.settings import ServiceSettings, uploads_dir
from braintwin.errors import BraintwinError
from braintwin.store import Store

__all__ = ["Worker", "recover_jobs", "run_job", "tidy_uploads"]

log = logging.getLogger("braintwin.worker")
Progress = Callable[[str, float], None]


class _Beat(threading.Thread):
    """Renews the lease of one job and writes the latest progress, every lease/3 seconds."""

    def __init__(self, db: ServiceDB, job_id: int, worker: str, lease_s: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.db, self.job_id, self.worker, self.lease_s = db, job_id, worker, lease_s
        self.progress, self.message = 0.0, "started"
        self.stopped = threading.Event()

    def report(self, message: str, fraction: float) -> None:
        self.message, self.progress = message, fraction

    def run(self) -> None:
        while not self.stopped.wait(self.lease_s / 3):
            try:
                queue.heartbeat(
                    self.db, self.job_id, self.worker, self.lease_s, self.progress, self.message
                )
            except Exception:  # a transient database error: the next beat retries
                log.warning("heartbeat of job %s failed", self.job_id)


def _ingest(store: Store, pid: str, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from braintwin.twin import IngestOptions, Twin
    from braintwin.types import Modality

    root = uploads_dir(store.home) / params["upload"]
    if not root.is_dir():
        raise BraintwinError("the uploaded files are gone", "upload the visit again")
    segment = params["segment"]
    opts = IngestOptions(
        modalities={k: Modality(v) for k, v in params["modalities"].items()} or None,
        root=root,
        segment=None if segment == "none" else segment,
        classify=segment != "none",
        update_model=bool(params["update_model"]),
        segmentation=root / params["seg"] if params.get("seg") else None,
    )
    twin = Twin.open(pid, store=store)
    res = twin.add_visit(
        root / "images", dt.date.fromisoformat(params["date"]), options=opts, progress=progress
    )
    return {
        "visit": str(res.date),
        "action": res.action,
        "created": res.created,
        "modalities": [m.value for m in res.modalities],
        "flags": res.flags,
        "model_notes": res.model_notes,
    }


def _update(store: Store, pid: str, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from braintwin.twin import Twin

    res = Twin.open(pid, store=store).update(progress=progress)
    return {"notes": res.notes, "forecasts": len(res.forecasts)}


def _forecast(store: Store, pid: str, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    from braintwin.twin import Twin
    from braintwin.twin.model import forecast_twin

    twin = Twin.open(pid, store=store)
    last = twin.visit_dates()[-1] if twin.visit_dates() else None
    if last is None:
        raise BraintwinError("the twin has no visits yet", "upload a visit first")
    fc = forecast_twin(twin, last + dt.timedelta(days=int(params["days"])), progress=progress)
    return {"target_date": str(last + dt.timedelta(days=int(params["days"]))), "notes": fc.notes}


def _compare_plans(
    store: Store, pid: str, params: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    from braintwin.plan.regimens import library, parse_plan_spec
    from braintwin.twin import Twin
    from braintwin.twin.planning import compare_twin_plans

    specs = [library()[n] for n in params["plans"]]
    specs += [parse_plan_spec(c, "custom plan") for c in params["custom"]]
    cmp = compare_twin_plans(
        Twin.open(pid, store=store),
        specs,
        horizon_days=float(params["horizon_days"]),
        n_samples=int(params["n_samples"]),
        target=params["target"],
        allow_prior=bool(params["allow_prior"]),
        progress=progress,
    )
    return {"plans": [s.to_dict() for s in cmp.summaries], "notes": cmp.notes}


def _optimise_plan(
    store: Store, pid: str, params: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    from braintwin.twin import Twin

    opt = Twin.open(pid, store=store).optimise_plan(
        params["reference"],
        objective=params["objective"],
        risk=params["risk"],
        horizon_days=float(params["horizon_days"]),
        n_samples=int(params["n_samples"]),
        search_samples=int(params["search_samples"]),
        maxiter=int(params["maxiter"]),
        allow_prior=bool(params["allow_prior"]),
        progress=progress,
    )
    return {
        "best": opt.result.best.model_dump(mode="json"),
        "plans": [s.to_dict() for s in opt.verification.summaries],
        "binding_constraints": opt.result.binding,
    }


_HANDLERS: dict[str, Callable[[Store, str, dict[str, Any], Progress], dict[str, Any]]] = {
    "ingest": _ingest,
    "update": _update,
    "forecast": _forecast,
    "compare_plans": _compare_plans,
    "optimise_plan": _optimise_plan,
}


def run_job(store: Store, job: queue.Claimed, progress: Progress) -> dict[str, Any]:
    """Run one claimed job; raises ``BraintwinError`` with a user-facing reason on bad input."""
    if job.patient_id is None:
        raise BraintwinError("the job names no patient")
    return _HANDLERS[job.kind](store, job.patient_id, job.params, progress)


class Worker:
    """A worker process's loop: recover dead workers' jobs, claim one, run it, repeat."""

    def __init__(self, store: Store, settings: ServiceSettings, poll_s: float = 0.5) -> None:
        self.store = store
        self.db = ServiceDB(store.engine)
        self.settings = settings
        self.poll_s = poll_s
        self.name = f"{socket.gethostname()[:40]}:{os.getpid()}"
        self._stop = threading.Event()

    def stop(self, *_: object) -> None:
        self._stop.set()

    def run(
        self, *, once: bool = False, max_idle_s: float | None = None, parent: int | None = None
    ) -> int:
        """Process jobs until stopped (SIGTERM finishes the current job first). ``parent``: stop
        as well when that process is gone (``serve``'s own worker; uvicorn ends ``serve`` by
        re-raising the signal it caught, so ``serve`` cannot always stop the worker itself)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
        done, idle_since = 0, time.monotonic()
        tidy_uploads(self.db, self.store.home)
        while not self._stop.is_set():
            if parent is not None and os.getppid() != parent:
                break
            recover_jobs(self.db, self.store.home)
            job = queue.claim(self.db, self.name, self.settings.job_lease_s)
            if job is None:
                if once or (max_idle_s and time.monotonic() - idle_since > max_idle_s):
                    break
                self._stop.wait(self.poll_s)
                continue
            self.process(job)
            done += 1
            idle_since = time.monotonic()
        return done

    def _scrub(self, message: str) -> str:
        """The message without server paths (clients see job errors)."""
        for path, name in ((uploads_dir(self.store.home), "<upload>"), (self.store.home, "<home>")):
            message = message.replace(str(path.resolve()), name).replace(str(path), name)
        return message

    def process(self, job: queue.Claimed) -> None:
        beat = _Beat(self.db, job.id, self.name, self.settings.job_lease_s)
        beat.start()
        result: dict[str, Any] | None = None
        error: str | None = None
        try:
            result = run_job(self.store, job, beat.report)
        except BraintwinError as err:
            error = self._scrub(str(err))
        except Exception as err:  # reported on the job without a traceback (logged here)
            log.exception("job %s failed", job.id)
            error = f"internal error ({type(err).__name__}); see the worker's log"
        finally:
            beat.stopped.set()
            beat.join()
        mine = queue.finish(self.db, job.id, self.name, result=result, error=error)
        if mine and job.kind == "ingest":  # (not mine: another worker took it over)
            upload = job.params.get("upload")
            if upload:  # the job is final either way: its files are no longer needed
                shutil.rmtree(uploads_dir(self.store.home) / str(upload), ignore_errors=True)


def tidy_uploads(db: ServiceDB, home: Path, min_age_s: float = 3600.0) -> int:
    """Remove upload folders that no queued or running job refers to (a server killed while
    receiving, a job row removed by hand), once older than ``min_age_s``. Returns how many."""
    from sqlalchemy import select

    from braintwin.store.service_models import JobRow

    with db.reading() as s:
        live = {
            str(p.get("upload"))
            for p in s.scalars(
                select(JobRow.params).where(JobRow.status.in_(("queued", "running")))
            )
        }
    removed = 0
    for folder in uploads_dir(home).iterdir():
        try:
            old = time.time() - folder.stat().st_mtime > min_age_s
        except OSError:
            continue
        if old and folder.name not in live:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def recover_jobs(db: ServiceDB, home: Path) -> int:
    """Recover dead workers' jobs (:func:`queue.recover`); the uploads of jobs that failed
    for good are removed. Returns how many jobs were recovered."""
    recovered = queue.recover(db)
    for _, status, params in recovered:
        if status == "failed" and params.get("upload"):
            shutil.rmtree(uploads_dir(home) / str(params["upload"]), ignore_errors=True)
    return len(recovered)
