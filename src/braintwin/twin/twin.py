"""The ``Twin``: one patient's visits, model state and history, backed by the store.

The twin knows its patient only by a pseudonym (HMAC of the given identifier with the
installation's secret key) and stores only shifted dates, so the database, files, logs and
reports never carry the identifier or the real dates.

Example (notebook)::

    from braintwin import Twin
    twin = Twin.open("patient-042", create=True)
    twin.add_visit("scans/2024-03-01", date=datetime.date(2024, 3, 1))
    twin.visits()
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braintwin.errors import BraintwinError, InputError, NotFoundError
from braintwin.twin.ingest import IngestOptions, prepare_visit
from braintwin.types import Modality, Patient, Visit

if TYPE_CHECKING:
    from braintwin.store import Store

__all__ = ["AddVisitResult", "Twin", "resolve_patient"]

Progress = Callable[[str, float], None]
log = logging.getLogger("braintwin.twin")


@dataclass
class AddVisitResult:
    """Outcome of :meth:`Twin.add_visit`."""

    date: dt.date  # de-identified (shifted) visit date as stored
    created: bool  # False when the same images were already ingested
    modalities: tuple[Modality, ...] = ()
    flags: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    model_notes: list[str] = field(default_factory=list)


def resolve_patient(store: Store, patient: str) -> str:
    """Map a user-given patient identifier (or an existing pseudonym) to the stored pseudonym."""
    from braintwin.deid import load_or_create_secret, pseudonym

    patient = patient.strip()
    if not patient:
        raise InputError("empty patient identifier", "pass --patient ID")
    if store.has_patient(patient):
        return patient
    return pseudonym(patient, load_or_create_secret(store.home))


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
        dates = self.visit_dates()
        if not dates:
            raise NotFoundError("the twin has no visits yet", "add one with `braintwin ingest`")
        if date is None:
            date = dates[-1]
        if date not in dates:
            known = ", ".join(str(d) for d in dates)
            raise NotFoundError(f"no visit on {date}", f"stored visit dates: {known}")
        return self.store.load_visit(self.id, date)

    def add_visit(
        self,
        source: str | Path,
        date: dt.date | None = None,
        *,
        options: IngestOptions | None = None,
        progress: Progress | None = None,
    ) -> AddVisitResult:
        """Ingest a new visit: read, de-identify, preprocess, segment, then store atomically.

        ``date`` is the real visit date (shifted before storage). Re-ingesting the same images
        returns the stored visit with ``created=False`` and changes nothing.
        """
        from braintwin.deid import load_or_create_secret
        from braintwin.io import read_visit_images

        opts = options or IngestOptions()
        images = read_visit_images(
            Path(source),
            modalities=opts.modalities,
            modality=opts.modality,
            root=opts.root,
            secret=load_or_create_secret(self.store.home),
            spacing=opts.spacing_override,  # TEMPORARY (h6): until the twin owner's --spacing
        )
        if self.store.has_patient(self.id):
            stored = self.store.find_visit(self.id, images.digest)
            if stored is not None:  # the same images again: nothing to do
                return AddVisitResult(date=stored, created=False)
        dates = self.visit_dates()
        reference = self.visit(dates[0]).reference if dates else None
        prepared = prepare_visit(
            Path(source),
            images=images,
            date=date,
            date_offset_days=self.date_offset_days,
            reference=reference,
            options=opts,
            progress=progress,
        )
        saved = self.store.save_visit(self.id, prepared.visit, digest=prepared.digest)
        log.info(
            "patient %s: visit %s %s (%s)",
            self.id,
            prepared.visit.date,
            "stored" if saved.created else "already stored",
            ", ".join(m.value for m in prepared.visit.modalities),
        )
        if saved.created:
            self.store.log_event(
                self.id,
                "add_visit",
                {
                    "date": str(prepared.visit.date),
                    "modalities": [m.value for m in prepared.visit.modalities],
                    "flags": prepared.flags,
                    "timings_s": prepared.visit.meta.get("timings_s", {}),
                },
            )
        flags = list(prepared.flags)
        model_notes: list[str] = []
        if saved.created and opts.classify:
            try:
                cls = self.classify(prepared.visit.date)
                p = cls["probabilities"][cls["label"]]
                model_notes.append(f"tumour type: {cls['label']} (p={p:.2f})")
            except BraintwinError as err:  # the visit is stored; classification can be re-run
                flags.append(f"not classified: {err}")
        if saved.created and opts.update_model and prepared.visit.segmentation is not None:
            from braintwin.twin.model import update_after_visit

            try:
                update = update_after_visit(self, prepared.visit.date, progress=progress)
                model_notes = update.notes + [
                    f"forecast for {s['target_date']} made from {s['forecast_from']}: "
                    f"enhancing Dice {s['dice_enhancing']:.2f}, "
                    f"volume error {s['volume_error_ml']:+.1f} mL"
                    for s in update.scores
                ]
            except BraintwinError as err:  # the visit is stored; the model can be re-run
                flags.append(f"model not updated: {err} (run `braintwin calibrate`)")
        return AddVisitResult(
            date=prepared.visit.date,
            created=saved.created,
            modalities=prepared.visit.modalities,
            flags=flags,
            timings_s=prepared.timings_s,
            model_notes=model_notes,
        )

    def segment(
        self, date: dt.date | None = None, *, method: str = "unet", uncertainty: bool = False
    ) -> list[str]:
        """(Re-)segment a stored visit (latest by default), measure it and store the result.

        Returns the segmentation's flags (e.g. missing modalities, empty prediction).
        """
        from braintwin.twin.ingest import segment_into

        visit = self.visit(date)
        flags = segment_into(visit, method, uncertainty=uncertainty)
        self.store.update_visit(
            self.id,
            visit.date,
            segmentation=visit.segmentation,
            extra_volumes=visit.extras,
            measurements=visit.measurements,
            meta=visit.meta,
        )
        self.store.log_event(self.id, "segment", {"date": str(visit.date), "method": method})
        return flags

    def classify(self, date: dt.date | None = None) -> dict[str, Any]:
        """Classify the tumour type of a visit (latest by default) and store the probabilities.

        Uses the slices that contain tumour when the visit is segmented (see
        :func:`braintwin.classify.classify_visit`); the Grad-CAM explanation is stored with it.
        """
        import base64

        from braintwin.classify import classify_visit

        visit = self.visit(date)
        pred = classify_visit(visit)
        record = pred.to_dict()
        if pred.explanation_png is not None:
            record["explanation_png_b64"] = base64.b64encode(pred.explanation_png).decode()
        self.store.update_visit(self.id, visit.date, classification=record)
        self.store.log_event(self.id, "classify", {"date": str(visit.date), "label": pred.label})
        return record

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
        model: dict[str, Any] = {"posteriors": [], "forecasts": 0, "forecast_scores": []}
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

            model["forecast_scores"] = forecast_scores(self)
        return {"patient": self.id, "visits": rows, "model": model}
