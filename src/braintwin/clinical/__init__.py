"""The patient's clinical course as typed records (diagnosis, surgery, radiotherapy,
temozolomide, clinical observations) and the treatment plan it implies.

A stage-level package: it knows no store, twin or CLI. Records are read from FHIR by
:mod:`braintwin.fhir` and stored by :mod:`braintwin.twin.clinical`.
"""

from braintwin.clinical.plan import course_plan
from braintwin.clinical.records import (
    ClinicalCourse,
    ClinicalObservation,
    Code,
    Diagnosis,
    RadiotherapyCourse,
    Resection,
    TemozolomideCourse,
)

__all__ = [
    "ClinicalCourse",
    "ClinicalObservation",
    "Code",
    "Diagnosis",
    "RadiotherapyCourse",
    "Resection",
    "TemozolomideCourse",
    "course_plan",
]
