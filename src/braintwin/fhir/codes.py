"""Terminology braintwin reads and writes in FHIR (one table; docs/fhir.md lists it).

Standard codes where one exists and was checked against the terminology's own publication or
an HL7 implementation guide (SNOMED CT, LOINC, RxNorm, ATC, ICD-10, UCUM, HL7 v2/v3 tables);
otherwise a code of braintwin's own code system :data:`BRAINTWIN` (a URN: a project-local
namespace that nobody should try to resolve). Recognising a code never guesses: a coding is
recognised only when its system *and* code are in these tables.
"""

from __future__ import annotations

from collections.abc import Iterable

from braintwin.clinical.records import Code

__all__ = [
    "ATC",
    "BRAINTWIN",
    "DATES_SHIFTED",
    "ECOG_LOINC",
    "GLIOMA_CODES",
    "HGNC",
    "ICD10",
    "IDH_GENES",
    "KARNOFSKY_LOINC",
    "LOINC",
    "MCODE_DOSE_EXT",
    "MCODE_SESSIONS_EXT",
    "MGMT_CODES",
    "PSEUDONYM_SYSTEM",
    "RADIOTHERAPY_CODES",
    "RESECTION_CODES",
    "RXNORM",
    "SNOMED",
    "TEMOZOLOMIDE_CODES",
    "UCUM",
    "bt",
    "matches",
]

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
HGNC = "http://www.genenames.org/geneId"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"  # diagnostic service section
V3_OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
PROVENANCE_AGENT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"

BRAINTWIN = "urn:braintwin:codes"
PSEUDONYM_SYSTEM = "urn:braintwin:pseudonym"
# Bundle.meta.tag on every export whose dates are the twin's (shifted) dates: importing such a
# bundle back must not shift them a second time.
DATES_SHIFTED = ("dates-shifted", "dates shifted by the patient's secret offset")

# mCODE STU2+ radiotherapy course summary (hl7.org/fhir/us/mcode): number of sessions, and the
# dose delivered to a volume (sub-extensions totalDoseDelivered, fractionsDelivered).
MCODE_SESSIONS_EXT = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-radiotherapy-sessions"
MCODE_DOSE_EXT = (
    "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-radiotherapy-dose-delivered-to-volume"
)

# Diagnosis: glioblastoma (SNOMED CT 393563007), ICD-O-3 morphology 9440/3, ICD-10 C71.x
# (malignant neoplasm of brain; any 4th character).
GLIOMA_CODES: frozenset[tuple[str, str]] = frozenset(
    {(SNOMED, "393563007"), (ICDO3, "9440/3")}
    | {(s, f"C71.{i}") for s in (ICD10, ICD10CM) for i in range(10)}
    | {(ICD10, "C71"), (ICD10CM, "C71")}
)
# Resection: SNOMED CT partial / total excision of lesion of brain.
RESECTION_CODES: frozenset[tuple[str, str]] = frozenset(
    {(SNOMED, "446103006"), (SNOMED, "447115003"), (BRAINTWIN, "resection")}
)
# Radiotherapy: mCODE's course-summary code (SNOMED CT 1217123003), teleradiotherapy
# (33195004), X-ray (photon) beam therapy (169291001), radiotherapy (108290001).
RADIOTHERAPY_CODES: frozenset[tuple[str, str]] = frozenset(
    {
        (SNOMED, "1217123003"),
        (SNOMED, "33195004"),
        (SNOMED, "169291001"),
        (SNOMED, "108290001"),
        (BRAINTWIN, "radiotherapy-course"),
    }
)
TEMOZOLOMIDE_CODES: frozenset[tuple[str, str]] = frozenset(
    {(RXNORM, "37776"), (ATC, "L01AX03"), (BRAINTWIN, "temozolomide")}
)
KARNOFSKY_LOINC = "89243-0"  # Karnofsky Performance Status score (0-100)
ECOG_LOINC = "89247-1"  # ECOG Performance Status score (0-5)
# MGMT promoter methylation: LOINC 64083-9 (MGMT gene methylation score in tissue) or braintwin's.
MGMT_CODES: frozenset[tuple[str, str]] = frozenset(
    {(LOINC, "64083-9"), (BRAINTWIN, "mgmt-promoter-methylation")}
)
IDH_CODE = (BRAINTWIN, "idh-mutation-status")
# IDH as a genomics-reporting variant assessment: LOINC 69548-6 with a "gene studied" (48018-6)
# component naming IDH1 (HGNC:5382) or IDH2 (HGNC:5383).
VARIANT_ASSESSMENT_LOINC = "69548-6"
GENE_STUDIED_LOINC = "48018-6"
IDH_GENES = frozenset({"HGNC:5382", "HGNC:5383"})
# LOINC answers of a variant assessment: present = mutant, absent = wild type.
VARIANT_ANSWERS = {"LA9633-4": "mutant", "LA9634-2": "wildtype"}


def bt(code: str, display: str = "") -> Code:
    """A braintwin code."""
    return Code(system=BRAINTWIN, code=code, display=display)


def matches(codes: Iterable[Code], table: frozenset[tuple[str, str]]) -> bool:
    """Whether any of ``codes`` is in ``table`` (system and code both)."""
    return any((c.system, c.code) in table for c in codes)
