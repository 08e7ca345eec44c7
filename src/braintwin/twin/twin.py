"""The ``Twin``: one patient's visits, model state and history, backed by the store.

The twin knows its patient only by a pseudonym (HMAC of the given identifier with the
installation's secret key) and stores only shifted dates, so the database, files, logs and
reports never carry the identifier or the real dates.

The facade composes the stages (:mod:`braintwin.twin.ingest`), the store and the model state
(:mod:`braintwin.twin.model`, which knows nothing of this class).

Example (notebook)::

    from braintwin import Twin
    twin = Twin.open("patient-042", create=True)
    twin.add_visit("scans/2024-03-01", date=datetime.date(2024, 3, 1))
    twin.visits()
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braintwin.errors import BraintwinError, InputError, NotFoundError
from braintwin.twin.ingest import (
    IngestOptions,
    PreparedVisit,
    expert_labels,
    labels_onto_visit,
    prepare_visit,
    set_segmentation,
)
from braintwin.twin.model import UpdateResult, patient_lock, update_after_visit, update_model
from braintwin.twin.state import ModelStatus, model_status
from braintwin.types import Modality, Patient, Visit

if TYPE_CHECKING:
    from braintwin.plan.compare import PlanComparison
    from braintwin.store import Store
    from braintwin.twin.planning import OptimisedPlans

__all__ = ["AddVisitResult", "IngestInterrupted", "Twin", "options_record", "resolve_patient"]

Progress = Callable[[str, float], None]
log = logging.getLogger("braintwin.twin")


@dataclass
class AddVisitResult:
    """Outcome of :meth:`Twin.add_visit`.

    ``action``: ``"stored"`` (a new visit), ``"unchanged"`` (same images, nothing to do),
    ``"resumed"`` (same images; the model update an interrupted ingest left undone was run),
    ``"re-dated"`` or ``"replaced"`` (same images with a corrected date or corrected options).
    """

    date: dt.date  # de-identified (shifted) visit date as stored
    created: bool  # False when the same images were already ingested
    modalities: tuple[Modality, ...] = ()
    flags: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    model_notes: list[str] = field(default_factory=list)
    action: str = "stored"
    classification: dict[str, Any] | None = None
    update: UpdateResult | None = None


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C during an ingest; ``str()`` says what was stored and how to resume."""


def resolve_patient(store: Store, patient: str) -> str:
    """Map a user-given patient identifier (or an existing pseudonym) to the stored pseudonym."""
    from braintwin.deid import load_or_create_secret, pseudonym

    patient = patient.strip()
    if not patient:
        raise InputError("empty patient identifier", "pass --patient ID")
    if store.has_patient(patient):
        return patient
    return pseudonym(patient, load_or_create_secret(store.home))


def options_record(opts: IngestOptions) -> dict[str, Any]:
    """The ingest options that change what is stored, as JSON (kept in the visit's meta), so a
    re-ingest of the same images with corrected options can be recognised and applied."""
    seg_digest = None
    if opts.segmentation is not None:
        seg_digest = hashlib.sha256(Path(opts.segmentation).read_bytes()).hexdigest()[:16]
    return {
        "modalities": {k: Modality(v).value for k, v in sorted((opts.modalities or {}).items())},
        "modality": None if opts.modality is None else Modality(opts.modality).value,
        "spacing": None if opts.spacing_override is None else list(opts.spacing_override),
        "segmentation": seg_digest,
        "segment": opts.segment if opts.segmentation is None else "expert",
        "n4": opts.n4,
    }


def _visit_digest(source_digest: str, options: dict[str, Any]) -> str:
    """The stored visit's identity: its source images *and* the options that shaped it, so
    re-ingesting the same images with corrected options is a new visit that replaces the old."""
    text = json.dumps({"source": source_digest, "options": options}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _interrupted_message(pid: str, stage: str, stored: dt.date | None) -> str:
    if stored is None:
        return f"interrupted while {stage}: nothing was stored (the twin is unchanged)"
    return (
        f"interrupted while {stage}: the visit of {stored} is stored, the model update is not "
        f"done; run `braintwin update {pid}` or re-run the same ingest to finish it"
    )


class Twin:
    """A patient's digital twin. Create with :meth:`open`; never holds identifiers."""

    def __init__(self, store: Store, pseudonym: str) -> None:
        self.store = store
        self.id = pseudonym

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        patient: str,
        *,
        store: Store | None = None,
        create: bool = False,
    ) -> Twin:
        """Open the twin of ``patient`` (an identifier or its pseudonym).

        With ``create=False`` an unknown patient raises ``NotFoundError``; with ``create=True`` the
        twin starts empty and becomes persistent with its first visit.
        """
        from braintwin.store import Store

        st = store or Store.open()
        pid = resolve_patient(st, patient)
        if not create and not st.has_patient(pid):
            raise NotFoundError(
                "no such patient in this store", "run `braintwin patients` to list them"
            )
        return cls(st, pid)

    @property
    def date_offset_days(self) -> int:
        from braintwin.deid import date_offset_days, load_or_create_secret

        return date_offset_days(self.id, load_or_create_secret(self.store.home))

    def shift(self, real_date: dt.date) -> dt.date:
        """The stored (shifted) date of a real date."""
        return real_date + dt.timedelta(days=self.date_offset_days)

    # -- visits -----------------------------------------------------------------------------
    def patient(self) -> Patient:
        """The patient with all stored visits (date order)."""
        return self.store.load_patient(self.id)

    def visit_dates(self) -> list[dt.date]:
        """Stored (shifted) visit dates in order; loads no image."""
        if not self.store.has_patient(self.id):
            return []
        return self.store.visit_dates(self.id)

    def visits(self) -> list[Visit]:
        """Every visit with its volumes, in date order (loads all images)."""
        if not self.store.has_patient(self.id):
            return []
        return self.patient().sorted_visits()

    def visit(self, date: dt.date | None = None) -> Visit:
        """The visit on ``date`` (a stored, shifted date), or the latest one."""
        return self.store.load_visit(self.id, self._date(date))

    def _date(self, date: dt.date | None) -> dt.date:
        dates = self.visit_dates()
        if not dates:
            raise NotFoundError("the twin has no visits yet", "add one with `braintwin ingest`")
        if date is None:
            return dates[-1]
        if date not in dates:
            known = ", ".join(str(d) for d in dates)
            raise NotFoundError(f"no visit on {date}", f"stored visit dates: {known}")
        return date

    def model_status(self) -> ModelStatus:
        """Whether the growth model has seen every visit as it is now."""
        return model_status(self)

    def add_visit(
        self,
        source: str | Path,
        date: dt.date | None = None,
        *,
        options: IngestOptions | None = None,
        progress: Progress | None = None,
        replace: bool = False,
    ) -> AddVisitResult:
        """Ingest a visit: read, de-identify, preprocess, segment, store, classify, update.

        ``date`` is the real visit date (shifted before storage). The visit is stored
        atomically first; classification and the model update follow. Re-ingesting the same
        images changes nothing, except that it applies a corrected date or corrected options
        (modalities, spacing, segmentation) and resumes a model update that an interrupted
        ingest left undone. ``replace``: a visit already stored on the same date is replaced.
        Ctrl-C raises :class:`IngestInterrupted` saying what was stored and what was not.
        """
        from braintwin.deid import load_or_create_secret
        from braintwin.io import read_visit_images

        opts = options or IngestOptions()
        progress_ = _Stage(progress)
        try:
            progress_.stage = "reading the images"
            images = read_visit_images(
                Path(source),
                modalities=opts.modalities,
                modality=opts.modality,
                root=opts.root,
                secret=load_or_create_secret(self.store.home),
                spacing=opts.spacing_override,
            )
            wanted = options_record(opts)
            digest = _visit_digest(images.digest, wanted)
            with patient_lock(self):
                known = self.store.has_patient(self.id)
                existing = self.store.find_visit(self.id, digest) if known else None
                if existing is not None:  # the same images with the same options
                    progress_.stored = existing
                    return self._same_images(existing, date, progress_)
                previous = self._visit_from_source(images.digest) if known else None
                progress_.stage = "preprocessing"
                prepared = self._prepare(source, images, date, opts, progress_, previous)
                prepared.visit.meta["ingest_options"] = wanted
                prepared.visit.meta["source_digest"] = images.digest
                prepared.digest = digest
                progress_.stage = "storing the visit"
                action = self._store(prepared, previous, replace)
                progress_.stored = prepared.visit.date
            result = AddVisitResult(
                date=prepared.visit.date,
                created=action != "unchanged",
                modalities=prepared.visit.modalities,
                flags=list(prepared.flags),
                timings_s=prepared.timings_s,
                action=action,
            )
            if result.created:  # else a concurrent writer stored it and does the rest
                self._after_store(prepared.visit, opts, result, progress_)
            return result
        except KeyboardInterrupt as exc:
            if isinstance(exc, IngestInterrupted):
                raise
            msg = _interrupted_message(self.id, progress_.stage, progress_.stored)
            raise IngestInterrupted(msg) from exc

    def _prepare(
        self,
        source: str | Path,
        images: Any,
        date: dt.date | None,
        opts: IngestOptions,
        progress: _Stage,
        existing: dt.date | None,
    ) -> PreparedVisit:
        dates = [d for d in self.visit_dates() if d != existing]
        # Every later visit is registered to the first one, read under the patient lock so
        # that concurrent first visits of a new patient agree on one reference.
        first = self.store.load_visit(self.id, dates[0]) if dates else None
        if date is None and existing is not None and images.study_date is None:
            date = existing - dt.timedelta(days=self.date_offset_days)
        prepared = prepare_visit(
            Path(source),
            images=images,
            date=date,
            date_offset_days=self.date_offset_days,
            reference=None if first is None else first.reference,
            options=opts,
            progress=progress.callback(0.0, 0.7),
        )
        if first is not None:
            from braintwin.preprocess.similarity import anatomy_check

            note = anatomy_check(prepared.visit, first)
            if note:
                prepared.flags.append(note)
        return prepared

    def _store(self, prepared: PreparedVisit, previous: dt.date | None, replace: bool) -> str:
        """Store atomically; ``previous``: the date of a visit made from the same images with
        other options (or date), which the new one replaces."""
        date = prepared.visit.date
        clash = date in self.visit_dates() and date != previous
        if clash and not replace:
            raise InputError(
                f"the twin already has a different visit on {date} (shifted date)",
                "add --replace to replace that visit, or give the right --date",
            )
        saved = self.store.save_visit(
            self.id, prepared.visit, digest=prepared.digest, replace=clash or previous == date
        )
        if previous is not None and previous != date:
            self.store.delete_visit(self.id, previous)
        if not saved.created:  # a store without a patient lock let a concurrent writer in
            prepared.visit.date = saved.date  # report the date the store really holds
            return "unchanged"
        self._log_visit("add_visit", prepared)
        return "replaced" if clash or previous is not None else "stored"

    def _visit_from_source(self, source_digest: str) -> dt.date | None:
        """The stored visit made from the same source images (with other options), if any;
        visits stored before options were recorded are found by their source digest."""
        legacy = self.store.find_visit(self.id, source_digest)
        if legacy is not None:
            return legacy
        for d in self.store.visit_dates(self.id):
            if self.store.visit_record(self.id, d)["meta"].get("source_digest") == source_digest:
                return d
        return None

    def _log_visit(self, action: str, prepared: PreparedVisit) -> None:
        self.store.log_event(
            self.id,
            action,
            {
                "date": str(prepared.visit.date),
                "modalities": [m.value for m in prepared.visit.modalities],
                "flags": prepared.flags,
                "timings_s": prepared.visit.meta.get("timings_s", {}),
            },
        )

    def _same_images(
        self, stored: dt.date, date: dt.date | None, progress: _Stage
    ) -> AddVisitResult:
        """Re-ingest of the same images and options: re-date if asked, finish what an
        interrupted ingest left undone (classification, model update), else nothing."""
        record = self.store.visit_record(self.id, stored)
        result = AddVisitResult(
            date=stored,
            created=False,
            modalities=tuple(Modality(m) for m in record["volumes"] if m in _MRI),
            action="unchanged",
        )
        if date is not None and self.shift(date) != stored:
            self.redate_visit(stored, date)
            result.date = self.shift(date)
            result.action = "re-dated"
        if record["classification"] is None and record["meta"].get("segmentation") is not None:
            progress.stage = "classifying"
            self._classify_into(result, self.store.load_visit(self.id, result.date))
        status = self.model_status()
        if status.stale:
            progress.stage = "updating the model"
            self._run_update(result, None, progress)
            result.action = "resumed" if result.action == "unchanged" else result.action
        return result

    def _after_store(
        self, visit: Visit, opts: IngestOptions, result: AddVisitResult, progress: _Stage
    ) -> None:
        """Classify and update the model with the visit in memory (no re-read)."""
        if opts.classify:
            progress.stage = "classifying"
            progress.report("classifying the tumour type", 0.75)
            self._classify_into(result, visit)
        if opts.update_model and visit.segmentation is not None:
            progress.stage = "updating the model"
            self._run_update(result, visit, progress)

    def _classify_into(self, result: AddVisitResult, visit: Visit) -> None:
        try:
            record = self.classify(visit.date, visit=visit)
        except BraintwinError as err:  # the visit is stored; classification can be re-run
            result.flags.append(f"not classified: {err}")
            return
        result.classification = record
        p = record["probabilities"][record["label"]]
        result.model_notes.append(f"tumour type: {record['label']} (p={p:.2f})")
        result.flags += [f"tumour type: {f}" for f in record.get("flags", [])]

    def _run_update(self, result: AddVisitResult, visit: Visit | None, progress: _Stage) -> None:
        try:
            with patient_lock(self):
                if visit is not None and not self.model_status().stale:
                    return  # a concurrent ingest already brought the model up to date
                cb = progress.callback(0.8, 1.0)
                if visit is not None and self._only_unseen(visit.date):
                    update = update_after_visit(self, visit.date, visit=visit, progress=cb)
                else:
                    update = update_model(self, progress=cb)
        except BraintwinError as err:  # the visit is stored; the model can be re-run
            result.flags.append(f"model not updated: {err} (run `braintwin update {self.id}`)")
            return
        result.update = update
        result.model_notes += update.notes + [s.line() for s in update.scores]

    def _only_unseen(self, date: dt.date) -> bool:
        """True when ``date`` is the only visit the model has not seen and it is the newest."""
        status = self.model_status()
        return status.posterior_date is None or (
            status.posterior_date < date and status.newest_visit == date
        )

    def update(self, *, progress: Progress | None = None) -> UpdateResult:
        """Bring a stale model up to date with every stored visit (``braintwin update``)."""
        with patient_lock(self):
            return update_model(self, progress=progress)

    # -- correcting the timeline ------------------------------------------------------------
    def delete_visit(self, date: dt.date) -> None:
        """Delete a stored visit (shifted date); the model becomes stale (see model_status)."""
        with patient_lock(self):
            self.store.delete_visit(self.id, self._date(date))

    def redate_visit(self, date: dt.date, real_date: dt.date) -> dt.date:
        """Move the visit stored on ``date`` (shifted) to ``real_date`` (a real date, as typed at
        ingest); returns the new shifted date. The model becomes stale."""
        from braintwin.twin.ingest import check_visit_date

        check_visit_date(real_date)
        new = self.shift(real_date)
        self.store.redate_visit(self.id, self._date(date), new)
        return new

    def import_segmentation(self, path: Path, date: dt.date | None = None) -> dict[str, Any]:
        """Use an expert or corrected label file as the visit's segmentation (latest visit by
        default); it drives measurement and the model (which becomes stale until updated)."""
        visit = self.visit(date)
        labels = labels_onto_visit(expert_labels(Path(path)), visit)
        set_segmentation(visit, labels, "expert")
        self._save_segmentation(visit, "import_segmentation", {})
        return visit.measurements

    def segment(
        self, date: dt.date | None = None, *, method: str = "unet", uncertainty: bool = False
    ) -> list[str]:
        """(Re-)segment a stored visit (latest by default), measure it and store the result.

        Returns the segmentation's flags (e.g. missing modalities, empty prediction). When the
        segmentation changed, :meth:`model_status` says the model is stale (``update`` fixes it).
        """
        from braintwin.twin.ingest import segment_into

        visit = self.visit(date)
        flags = segment_into(visit, method, uncertainty=uncertainty)
        self._save_segmentation(visit, "segment", {"method": method})
        return flags

    def _save_segmentation(self, visit: Visit, action: str, details: dict[str, Any]) -> None:
        """Store a visit's new segmentation (with its extras, measurements, meta); log it."""
        self.store.update_visit(
            self.id,
            visit.date,
            segmentation=visit.segmentation,
            extra_volumes=visit.extras,
            measurements=visit.measurements,
            meta=visit.meta,
        )
        self.store.log_event(self.id, action, {"date": str(visit.date), **details})

    def classify(
        self, date: dt.date | None = None, *, visit: Visit | None = None
    ) -> dict[str, Any]:
        """Classify the tumour type of a visit (latest by default) and store the probabilities.

        Uses the slices that contain tumour when the visit is segmented (see
        :func:`braintwin.classify.classify_visit`); the Grad-CAM explanation is stored with it.
        ``visit``: the visit already in memory (ingest hands it over instead of re-reading).
        """
        import base64

        from braintwin.classify import classify_visit

        visit = visit if visit is not None else self.visit(date)
        pred = classify_visit(visit)
        record = pred.to_dict()
        if pred.explanation_png is not None:
            record["explanation_png_b64"] = base64.b64encode(pred.explanation_png).decode()
        self.store.update_visit(self.id, visit.date, classification=record)
        self.store.log_event(self.id, "classify", {"date": str(visit.date), "label": pred.label})
        return record

    # -- decision support (braintwin.plan via twin.planning) -------------------------------
    def compare_plans(self, plans: list[str] | None = None, **options: Any) -> PlanComparison:
        """Compare treatment plans (library names or plan files; default: the whole library)
        under the twin's posterior; options as :func:`twin.planning.compare_twin_plans`."""
        from braintwin.plan.regimens import library, resolve_plan
        from braintwin.twin.planning import compare_twin_plans

        specs = [resolve_plan(p) for p in plans] if plans else list(library().values())
        return compare_twin_plans(self, specs, **options)

    def optimise_plan(self, reference: str = "stupp", **options: Any) -> OptimisedPlans:
        """Optimise fractionation and temozolomide timing against ``reference``; options as
        :func:`twin.planning.optimise_twin_plan`."""
        from braintwin.plan.regimens import resolve_plan
        from braintwin.twin.planning import optimise_twin_plan

        return optimise_twin_plan(self, resolve_plan(reference), **options)

    # -- summaries --------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """A JSON-able overview (no identifiers, no images): visits, modalities, measurements."""
        rows = []
        for date in self.visit_dates():
            rec = self.store.visit_record(self.id, date)
            rows.append(
                {
                    "date": str(date),
                    "volumes": rec["volumes"],
                    "segmentation": rec["meta"].get("segmentation"),
                    "measurements": rec["measurements"],
                    "classification": rec["classification"],
                    "synthetic": bool(rec["meta"].get("synthetic")),
                }
            )
        status = self.model_status()
        model: dict[str, Any] = {
            "posteriors": [],
            "forecasts": 0,
            "forecast_scores": [],
            "stale": status.stale,
            "stale_reason": status.reason,
        }
        if self.store.has_patient(self.id):
            for art in self.store.artifacts(self.id, "posterior", load_volumes=False):
                model["posteriors"].append(
                    {
                        "visit_date": str(art.visit_date),
                        "source": art.payload.get("source"),
                        "summary": art.payload.get("summary"),
                    }
                )
            model["forecasts"] = len(self.store.artifacts(self.id, "forecast", load_volumes=False))
            from braintwin.twin.model import forecast_scores

            model["forecast_scores"] = [s.to_dict() for s in forecast_scores(self)]
        return {"patient": self.id, "visits": rows, "model": model}


_MRI = {m.value for m in Modality.mri()}


class _Stage:
    """Which step an ingest is in (for the Ctrl-C message) and the progress callback."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.stage = "starting"
        self.stored: dt.date | None = None

    def report(self, message: str, fraction: float) -> None:
        if self.progress is not None:
            self.progress(message, fraction)

    def callback(self, start: float, end: float) -> Progress | None:
        if self.progress is None:
            return None
        return lambda m, f: self.report(m, start + (end - start) * max(0.0, min(1.0, f)))
