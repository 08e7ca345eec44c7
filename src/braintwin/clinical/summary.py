"""A clinical course as short text lines (``import fhir``, ``show``, the report).

Dates are printed as stored (the twin's shifted timeline).
"""

from __future__ import annotations

from braintwin.clinical.records import ClinicalCourse

__all__ = ["course_lines"]


def course_lines(course: ClinicalCourse) -> list[str]:
    """One indented line per record in date order (a timeline), then the flags."""
    lines = []
    for d in course.diagnoses:
        name = d.text or (d.codes[0].label() if d.codes else "diagnosis")
        lines.append(
            f"  {d.date}  diagnosis: {name}" + ("" if d.recognised else " [code not recognised]")
        )
    for r in course.resections:
        lines.append(f"  {r.date}  resection: {r.text or (r.codes[0].label() if r.codes else '')}")
    for rt in course.radiotherapy:
        end = f" to {rt.end}" if rt.end else ""
        lines.append(
            f"  {rt.start}  radiotherapy{end}: {rt.total_dose_gy:g} Gy in {rt.fractions} fractions"
        )
    for t in course.temozolomide:
        lines.append(
            f"  {t.start}  temozolomide {t.phase} {t.dose_mg_m2:g} mg/m² daily, {t.days} day(s)"
        )
    for o in course.observations:
        value = f"{o.value:g}" if isinstance(o.value, float) else (o.value or "–")
        name = o.kind if o.kind != "other" else (o.text or (o.codes[0].label() if o.codes else "?"))
        gene = f" ({o.gene.display or o.gene.code})" if o.gene else ""
        lines.append(f"  {o.date}  {name}{gene}: {value}{' ' + o.unit if o.unit else ''}")
    for x in course.other:
        lines.append(f"  {x.date or '–'}  {x.resource_type} (not recognised): "
                     + ", ".join(c.label() for c in x.codes))  # fmt: skip
    # every line starts with "  YYYY-MM-DD" (or "  –" when undated): a stable sort by it
    lines.sort(key=lambda line: line.split()[0])
    lines += [f"  flag: {f}" for f in course.flags]
    return lines
