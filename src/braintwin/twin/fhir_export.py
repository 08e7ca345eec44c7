"""The twin as a FHIR R4 bundle: gather visits, model results and the clinical course from the
store, date them (shifted by default, real with ``identified``) and build the bundle.

Identifiers: the pseudonym by default. ``identified=True`` puts the patient's real identifier
in the bundle; the store never keeps it, so it must be the identifier the user typed (which
maps to this twin's pseudonym under the installation's secret key): a user who can read that
key is the data owner on this machine. Given a pseudonym, an identified export is refused.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from braintwin.errors import InputError
from braintwin.fhir.codes import PSEUDONYM_SYSTEM
from braintwin.fhir.results import ExportInput, ForecastResult, ModelInfo, PlanResult, VisitResult
from braintwin.fhir.writer import build_bundle
from braintwin.packaged import data_path
from braintwin.twin.clinical import load_course
from braintwin.twin.pacs import visit_study_uid
from braintwin.twin.twin import Twin

__all__ = ["export_fhir", "weights_sha256"]

_WEIGHTS = {
    "segmentation": ("segment", "segresnet8x3.pt", "braintwin segmentation network"),
    "classifier": ("classify", "classifier.pt", "braintwin tumour-type classifier"),
}


@functools.cache
def weights_sha256(path: str) -> str | None:
    """SHA-256 of a shipped weights file (``None`` when absent)."""
    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _model(key: str, version: str, detail: str = "") -> ModelInfo:
    if key in _WEIGHTS:
        folder, name, title = _WEIGHTS[key]
        return ModelInfo(key, title, version, weights_sha256(str(data_path(folder, name))), detail)
    if key == "growth-model":
        title = "braintwin growth model (reaction-diffusion, Bayesian calibration)"
        return ModelInfo(key, title, version, None, detail)
    return ModelInfo(key, f"braintwin {key.replace('-', ' ')}", version, None, detail)


def _response(twin: Twin, upto: dt.date) -> tuple[str | None, str]:
    from braintwin.measure import assess_response
    from braintwin.twin.state import response_series

    series = response_series(twin, upto)
    if len(series) < 2 or series[-1].label != str(upto):
        return None, ""
    resp = assess_response(series)["response"]
    return str(resp["category"]), f"against {resp['compared_with']}"


def _visit(
    twin: Twin, date: dt.date, version: str, shift: dt.timedelta, secret: bytes
) -> VisitResult:
    rec = twin.store.visit_record(twin.id, date)
    volumes = {
        r: float(m["volume_ml"])
        for r, m in (rec["measurements"] or {}).items()
        if r in ("WT", "TC", "ET") and isinstance(m, dict) and m.get("volume_ml") is not None
    }
    response, note = _response(twin, date)
    cls = rec["classification"] or {}
    seg = rec["meta"].get("segmentation") or {}
    # the volumes and the response are braintwin's measurements, whoever drew the labels
    models = [_model("measurement", version, "volumes and RANO-style response")]
    method = str(seg.get("method", ""))
    if method == "unet":
        models.append(_model("segmentation", version))
    elif method and method != "expert":  # an expert's labels are no braintwin result
        models.append(_model(f"segmentation-{method}", version))
    if cls:
        models.append(_model("classifier", version))
    return VisitResult(
        date=date + shift,
        volumes_ml=volumes,
        response=response,
        response_note=note,
        tumour_type=cls.get("label"),
        tumour_probabilities={k: float(v) for k, v in (cls.get("probabilities") or {}).items()},
        # the study the PACS export puts its objects in (braintwin.twin.pacs)
        study_uid=visit_study_uid(secret, twin.id, date, rec["meta"]),
        models=tuple(models),
    )


def _forecast(twin: Twin, version: str, shift: dt.timedelta) -> ForecastResult | None:
    art = twin.store.latest_artifact(twin.id, "forecast", load_volumes=False)
    if art is None:
        return None
    p = art.payload
    bands = {c: {q: float(v[-1]) for q, v in b.items()} for c, b in p["volume_ml"].items()}
    prog = p.get("progression") or {}
    plan = p.get("plan") or {}
    start = dt.date.fromisoformat(p["start"])
    return ForecastResult(
        made_on=start + shift,
        target=dt.date.fromisoformat(p["date"]) + shift,
        bands_ml=bands,
        ttp_median_days=prog.get("median_days"),
        p_progression=prog.get("p_progression_by_date"),
        plan_name=str(plan.get("name", "none") if plan else "none"),
        source=str(p.get("source", "")),
        models=(_model("growth-model", version, f"posterior source {p.get('source')}"),),
    )


def _plans(twin: Twin) -> tuple[list[PlanResult], dt.date | None]:
    art = twin.store.latest_artifact(twin.id, "plan_comparison", load_volumes=False)
    if art is None:
        return [], None
    rows = [
        PlanResult(**{k: r.get(k) for k in PlanResult.__dataclass_fields__})
        for r in art.payload.get("plans", [])
    ]
    return rows, dt.date.fromisoformat(art.payload["start"])


def export_fhir(twin: Twin, *, identified: bool = False, given_id: str | None = None) -> Bundle:
    """The twin as a validated FHIR bundle. ``identified``: real identifier and real dates;
    ``given_id`` must then be the real identifier the user typed for this twin."""
    from braintwin import __version__
    from braintwin.deid import load_or_create_secret, pseudonym

    system, value = PSEUDONYM_SYSTEM, twin.id
    stored = load_course(twin)
    shift = dt.timedelta(0)
    if identified:
        if (
            given_id is None
            or given_id.strip() == twin.id
            or (pseudonym(given_id, load_or_create_secret(twin.store.home)) != twin.id)
        ):
            raise InputError(
                "--identified needs the patient's real identifier, not the pseudonym",
                "the store keeps only the pseudonym; give the identifier used at ingest",
            )
        systems = stored.identifier_systems if stored else []
        system, value = (systems[0] if systems else "urn:braintwin:local-id"), given_id.strip()
        shift = dt.timedelta(days=-twin.date_offset_days)
    secret = load_or_create_secret(twin.store.home)
    visits = [_visit(twin, d, __version__, shift, secret) for d in twin.visit_dates()]
    plans, plans_start = _plans(twin)
    inp = ExportInput(
        patient_system=system,
        patient_value=value,
        dates_shifted=not identified,
        visits=visits,
        forecast=_forecast(twin, __version__, shift),
        plans=plans,
        plans_start=None if plans_start is None else plans_start + shift,
        plans_models=(_model("growth-model", __version__),),
        software_version=__version__,
    )
    course = None if stored is None else stored.course.shifted(shift.days)
    return build_bundle(inp, course)


def bundle_json(bundle: Bundle) -> str:
    """FHIR JSON text of ``bundle`` (no empty elements)."""
    text: Any = bundle.model_dump_json(exclude_none=True, indent=1)
    return str(text)
