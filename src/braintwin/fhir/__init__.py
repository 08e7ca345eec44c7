"""FHIR R4 in and out (validated with the ``fhir.resources`` R4B models; docs/fhir.md).

A stage-level package: bundles are read into :class:`braintwin.clinical.ClinicalCourse` records
(:func:`read_course`) and built from typed result records (:func:`build_bundle`); it never
touches the store, the twin or the CLI (:mod:`braintwin.twin.clinical` and
:mod:`braintwin.twin.fhir_export` do).
"""

from braintwin.fhir.bundle import load_bundle, parse_bundle
from braintwin.fhir.reader import BundleContent, read_course
from braintwin.fhir.results import ExportInput, ForecastResult, ModelInfo, PlanResult, VisitResult
from braintwin.fhir.writer import build_bundle

__all__ = [
    "BundleContent",
    "ExportInput",
    "ForecastResult",
    "ModelInfo",
    "PlanResult",
    "VisitResult",
    "build_bundle",
    "load_bundle",
    "parse_bundle",
    "read_course",
]
