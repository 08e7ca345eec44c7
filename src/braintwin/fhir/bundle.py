"""Reading a FHIR bundle: JSON → validated ``fhir.resources`` R4B models, one-line errors.

braintwin speaks FHIR R4. ``fhir.resources`` 8 ships R5 as its default package and R4B (4.3.0)
and STU3 as sub-packages, but no R4 (4.0.1) one; R4B is R4 plus a few new resources, and every
resource braintwin reads or writes (Bundle, Patient, Condition, Procedure,
MedicationAdministration, MedicationStatement, Medication, Observation, DiagnosticReport,
ImagingStudy, Provenance, Device) has the same structure in R4 and R4B, so the R4B models
validate R4 bundles (an R5 model would refuse R4's ``Procedure.performed[x]`` or
``MedicationStatement`` fields).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from pydantic import ValidationError

from braintwin.clinical.records import Code
from braintwin.errors import InputError

__all__ = [
    "MAX_BUNDLE_BYTES",
    "Entry",
    "as_date",
    "codes_of",
    "entries",
    "load_bundle",
    "parse_bundle",
    "text_of",
]

MAX_BUNDLE_BYTES = 50_000_000
_HINT = "fix that field in the bundle (FHIR R4 JSON) and import again"


@dataclass(frozen=True)
class Entry:
    """One resource of a bundle with what names it in messages (``Procedure #3``) and the
    references by which other resources may point at it."""

    index: int
    resource: Any
    names: frozenset[str]

    @property
    def type(self) -> str:
        return str(self.resource.get_resource_type())

    @property
    def where(self) -> str:
        return f"{self.type} (entry {self.index})"


def load_bundle(path: Path) -> Bundle:
    """Read and validate a bundle file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"FHIR bundle {path.name} not found", "give the path of a .json file")
    if path.stat().st_size > MAX_BUNDLE_BYTES:
        raise InputError(f"FHIR bundle {path.name} is larger than 50 MB", "export one patient")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        first = str(err).splitlines()[0]
        raise InputError(f"{path.name} is not JSON: {first}", "export the bundle as JSON") from None
    return parse_bundle(raw, path.name)


def parse_bundle(raw: Any, source: str = "bundle") -> Bundle:
    """Validate decoded JSON as an R4 bundle; the error names the resource and the field."""
    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        found = raw.get("resourceType") if isinstance(raw, dict) else type(raw).__name__
        raise InputError(
            f"{source}: expected a FHIR Bundle, found {found!r}",
            "export the patient's record as a Bundle (type collection, document or transaction)",
        )
    try:
        return Bundle.model_validate(raw)
    except ValidationError as err:
        raise InputError(f"{source}: invalid FHIR: {_one_line(err, raw)}", _HINT) from None


def _one_line(err: ValidationError, raw: dict[str, Any]) -> str:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    where = "Bundle"
    if len(loc) >= 3 and loc[0] == "entry" and loc[1].isdigit() and loc[2] == "resource":
        i = int(loc[1])
        kind = "resource"
        with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
            kind = str(raw["entry"][i]["resource"].get("resourceType", "resource"))
        where, loc = f"{kind} (entry {i})", loc[3:]
    field = ".".join(p for p in loc if not p.startswith("function-")) or "(resource)"
    msg = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{where} field {field}: {msg}{more}"


def entries(bundle: Bundle) -> Iterator[Entry]:
    """The bundle's resources with the references that may point at each (fullUrl,
    ``Type/id``)."""
    for i, entry in enumerate(bundle.entry or []):
        res = entry.resource
        if res is None:
            continue
        names = set()
        if entry.fullUrl:
            names.add(str(entry.fullUrl))
        if getattr(res, "id", None):
            names.add(f"{res.get_resource_type()}/{res.id}")
            if entry.fullUrl and str(entry.fullUrl).endswith(
                f"/{res.get_resource_type()}/{res.id}"
            ):
                names.add(str(entry.fullUrl))
        yield Entry(i, res, frozenset(names))


def codes_of(concept: CodeableConcept | None) -> tuple[Code, ...]:
    """The codings of a CodeableConcept as records (nothing dropped, nothing added)."""
    if concept is None:
        return ()
    return tuple(
        Code(system=str(c.system or ""), code=str(c.code or ""), display=str(c.display or ""))
        for c in concept.coding or []
    )


def text_of(concept: CodeableConcept | None) -> str:
    return "" if concept is None or not concept.text else str(concept.text)


def as_date(value: Any, where: str, field: str) -> dt.date:
    """A FHIR date/dateTime as a calendar date; a partial date (year or month) is refused:
    the twin's timeline is in days."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise InputError(
        f"{where} field {field}: {value!r} is not a full date",
        "give the day (YYYY-MM-DD): the twin's timeline counts days",
    )
