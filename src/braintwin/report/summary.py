"""The paragraph that opens the report: what was seen, how it changed, what the model expects.

Written from typed facts (:class:`SummaryFacts`, gathered by the twin) in plain words, with
rounded numbers and the regions named as a clinician names them; it always ends with the
research-use caveat.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from braintwin.report.numbers import ml, percent

__all__ = ["CAVEAT", "ForecastFacts", "SummaryFacts", "plain_summary"]

CAVEAT = (
    "This is research software: segmentations, measurements and forecasts are computed "
    "automatically, are not validated for clinical use, and must be checked by a clinician "
    "before they inform any decision."
)


@dataclass(frozen=True)
class ForecastFacts:
    """The latest forecast: T1ce-visible tumour (TC) volume at its end, median and 90 %."""

    start: dt.date
    date: dt.date
    plan: str
    tc_median_ml: float | None
    tc_q05_ml: float | None
    tc_q95_ml: float | None
    ttp_median_days: float | None = None


@dataclass(frozen=True)
class SummaryFacts:
    """What the summary needs; volumes in mL by region ("WT", "TC", "ET"), observable only.

    Attributes:
        volumes: one mapping per visit, in date order (empty mapping: not segmented).
        response: RANO category of the latest visit against the earlier ones, if any.
        response_basis: what it rests on, e.g. "SPD -27 % against the baseline of 2020-01-01".
    """

    dates: list[dt.date]
    volumes: list[Mapping[str, float]]
    response: str | None = None
    response_basis: str | None = None
    forecast: ForecastFacts | None = None
    model_stale: bool = False
    notes: list[str] = field(default_factory=list)


_RESPONSE = {
    "CR": "complete response",
    "PR": "partial response",
    "SD": "stable disease",
    "PD": "progressive disease",
    "NE": "not evaluable",
}


def _change(name: str, before: float, after: float) -> str:
    pct = None if before == 0 else 100.0 * (after - before) / before
    if pct is None:
        return f"the {name} went from {ml(before)} to {ml(after)} mL"
    if abs(pct) < 5:
        return f"the {name} is about the same ({ml(before)} → {ml(after)} mL)"
    verb = "grew" if pct > 0 else "shrank"
    return f"the {name} {verb} by {percent(abs(pct), signed=False)} ({ml(before)} → {ml(after)} mL)"


def _seen(v: Mapping[str, float]) -> str:
    parts = []
    if "WT" in v:
        parts.append(f"{ml(v['WT'])} mL of abnormal tissue in total (whole tumour with oedema)")
    if "TC" in v:
        core = f"a tumour core of {ml(v['TC'])} mL"
        if "ET" in v:
            core += f", {ml(v['ET'])} mL of it enhancing"
        parts.append(core)
    return ", with ".join(parts) if parts else "no measurable tumour"


def _plan_phrase(label: str) -> str:
    """``"'stupp' from 2020-01-01: 60 Gy in 30 fractions"`` (see
    :func:`braintwin.report.naming.plan_summary`) as a phrase for running text."""
    if label.startswith("none"):
        return "no treatment (untreated growth)"
    head, _, what = label.partition(": ")
    name, _, start = head.partition(" from ")
    if not what or not start:
        return f"the treatment plan {label}"
    return f"the treatment plan {name} ({what}, starting {start})"


def plain_summary(f: SummaryFacts) -> str:
    """One paragraph in plain language (see module doc)."""
    if not f.dates:
        return "No imaging visit is stored for this patient yet. " + CAVEAT
    n = len(f.dates)
    first, last = f.dates[0], f.dates[-1]
    out = [
        f"{n} MRI visit{'s' if n > 1 else ''}"
        + (f" over {(last - first).days} days ({first} to {last})." if n > 1 else f" ({last}).")
    ]
    latest = f.volumes[-1]
    if latest:
        out.append(f"At the latest visit the images show {_seen(latest)}.")
    else:
        out.append("The latest visit has no tumour segmentation yet.")
    if n > 1 and f.volumes[0] and latest:
        changes = [
            _change(name, f.volumes[0][r], latest[r])
            for r, name in (("WT", "whole tumour"), ("TC", "tumour core"))
            if r in f.volumes[0] and r in latest
        ]
        if changes:
            out.append("Since the first visit, " + " and ".join(changes) + ".")
    if f.response:
        basis = f"; {f.response_basis}" if f.response_basis else ""
        out.append(
            f"The RANO-style imaging response of the latest visit is {f.response} "
            f"({_RESPONSE.get(f.response, f.response)}{basis})."
        )
    out += f.notes
    fc = f.forecast
    if fc is not None and fc.tc_median_ml is not None:
        text = (
            f"Assuming {_plan_phrase(fc.plan)}, the growth model forecasts a tumour core "
            f"of {ml(fc.tc_median_ml)} mL on {fc.date} ({(fc.date - fc.start).days} days after "
            f"{fc.start}; 90 % credible interval {ml(fc.tc_q05_ml)}–{ml(fc.tc_q95_ml)} mL)"
        )
        if fc.ttp_median_days is not None:
            text += (
                f", with a median time to progression of {fc.ttp_median_days / 30.44:.1f} months"
            )
        out.append(text + ".")
        if f.model_stale:
            out.append("The model has not yet seen the newest visit; its forecast is out of date.")
    elif n and not f.model_stale:
        out.append("No growth forecast has been made yet.")
    out.append(CAVEAT)
    return " ".join(out)
