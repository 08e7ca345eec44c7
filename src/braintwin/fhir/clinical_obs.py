"""Clinical Observations in: performance status, MGMT promoter methylation, IDH status.

An Observation is recognised by its code (system and code, :mod:`braintwin.fhir.codes`);
one braintwin does not recognise is kept as ``kind="other"`` with its codes and value and
flagged. braintwin's own result Observations (volumes, response, forecasts) are not clinical
input: :func:`is_result` lets the reader skip them when a braintwin export is imported back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from braintwin.clinical.records import ClinicalObservation, Code
from braintwin.errors import InputError
from braintwin.fhir.bundle import Entry, as_date, codes_of, text_of
from braintwin.fhir.codes import (
    BRAINTWIN,
    ECOG_LOINC,
    GENE_STUDIED_LOINC,
    IDH_CODE,
    IDH_GENES,
    KARNOFSKY_LOINC,
    LOINC,
    MGMT_CODES,
    VARIANT_ANSWERS,
    VARIANT_ASSESSMENT_LOINC,
    matches,
)

__all__ = ["SCORE_RANGES", "is_result", "observation", "observation_date"]

SCORE_RANGES = {"karnofsky": (0.0, 100.0), "ecog": (0.0, 5.0)}
_CLINICAL_BT = {"mgmt-promoter-methylation", "idh-mutation-status"}


def is_result(codes: tuple[Code, ...]) -> bool:
    """A braintwin result (its own code system, not one of its clinical codes)."""
    return any(c.system == BRAINTWIN and c.code not in _CLINICAL_BT for c in codes)


def observation_date(res: Any, where: str) -> dt.date:
    if res.effectiveDateTime is not None:
        return as_date(res.effectiveDateTime, where, "effectiveDateTime")
    if res.effectivePeriod is not None and res.effectivePeriod.start is not None:
        return as_date(res.effectivePeriod.start, where, "effectivePeriod.start")
    if res.issued is not None:
        return as_date(res.issued, where, "issued")
    raise InputError(f"{where}: no effective date", "give effectiveDateTime (YYYY-MM-DD)")


def _kind(res: Any, codes: tuple[Code, ...]) -> tuple[str, Code | None]:
    """The observation's kind and, for a variant assessment, the gene studied."""
    pairs = {(c.system, c.code) for c in codes}
    if (LOINC, KARNOFSKY_LOINC) in pairs:
        return "karnofsky", None
    if (LOINC, ECOG_LOINC) in pairs:
        return "ecog", None
    if matches(codes, MGMT_CODES):
        return "mgmt", None
    if IDH_CODE in pairs:
        return "idh", None
    if (LOINC, VARIANT_ASSESSMENT_LOINC) in pairs:
        for comp in res.component or []:
            if (LOINC, GENE_STUDIED_LOINC) in {(c.system, c.code) for c in codes_of(comp.code)}:
                for gene in codes_of(comp.valueCodeableConcept):
                    if gene.code in IDH_GENES:
                        return "idh", gene
    return "other", None


def _value(res: Any) -> tuple[float | str | None, str, Code | None]:
    """(value, unit, coded value) of ``value[x]``."""
    if res.valueQuantity is not None:
        q = res.valueQuantity
        unit = str(q.code or q.unit or "")
        return (None if q.value is None else float(q.value)), unit, None
    if res.valueInteger is not None:
        return float(res.valueInteger), "", None
    if res.valueCodeableConcept is not None:
        codes = codes_of(res.valueCodeableConcept)
        first = codes[0] if codes else None
        text = text_of(res.valueCodeableConcept) or (first.display if first else "")
        if first is not None and first.system == LOINC and first.code in VARIANT_ANSWERS:
            text = VARIANT_ANSWERS[first.code]
        elif first is not None and first.system == BRAINTWIN:
            text = first.code
        return text or None, "", first
    if res.valueString is not None:
        return str(res.valueString), "", None
    if res.valueBoolean is not None:
        return ("yes" if res.valueBoolean else "no"), "", None
    return None, "", None


def observation(entry: Entry, flags: list[str]) -> ClinicalObservation | None:
    """The observation of ``entry`` (``None``: a braintwin result or a cancelled entry)."""
    res = entry.resource
    if res.status in ("entered-in-error", "cancelled"):
        flags.append(f"{entry.where}: status {res.status}, ignored")
        return None
    codes = codes_of(res.code)
    if is_result(codes):
        return None
    kind, gene = _kind(res, codes)
    value, unit, value_code = _value(res)
    if kind in SCORE_RANGES:
        lo, hi = SCORE_RANGES[kind]
        if not isinstance(value, float) or not lo <= value <= hi:
            raise InputError(
                f"{entry.where} ({kind}): value {value!r} is not a score in {lo:g}-{hi:g}",
                "give valueInteger",
            )
    if kind == "other":
        label = ", ".join(c.label() for c in codes) or text_of(res.code) or "no code"
        flags.append(f"{entry.where}: code {label} not recognised; kept, not interpreted")
    return ClinicalObservation(
        kind=kind,  # type: ignore[arg-type]
        date=observation_date(res, entry.where),
        value=value,
        unit=unit,
        value_code=value_code,
        codes=codes,
        text=text_of(res.code),
        gene=gene,
    )
