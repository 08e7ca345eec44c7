"""RANO-style response of the latest visit against the patient's earlier visits.

RANO (Wen et al. 2010) judges response against the *baseline* (the first assessment) and
progression against the *nadir* (the smallest SPD so far), not against whichever visit came
just before: a tumour that shrank by half and then grew back by 40 % is progressive even if
it is still smaller than at baseline. Only visits that can show the enhancing lesion (T1ce)
serve as baseline or nadir; visits without contrast are skipped rather than read as 0.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from braintwin.errors import InputError
from braintwin.measure.response import (
    MeasurementsLike,
    _as_measurement,
    compare_measurements,
)
from braintwin.types import Region

__all__ = ["VisitMeasurements", "assess_response"]


@dataclass(frozen=True)
class VisitMeasurements:
    """One visit's measurements for a response assessment.

    Attributes:
        label: how to name the visit in the result (e.g. its shifted date).
        measurements: region -> measurement (``RegionMeasurement`` or its dict).
        observable: regions the visit can show (see
            :func:`braintwin.measure.observable_regions`); None: all.
    """

    label: str
    measurements: MeasurementsLike
    observable: Collection[str] | None = None

    def shows(self, region: Region) -> bool:
        return region.value in self.measurements and (
            self.observable is None or region.value in self.observable
        )


def assess_response(
    visits: Sequence[VisitMeasurements],
    *,
    new_lesion: bool = False,
    region: Region | str = Region.TC,
) -> dict[str, Any]:
    """Response of ``visits[-1]``: PD against the nadir, otherwise CR/PR/SD against baseline.

    Args:
        visits: the patient's visits in date order, the assessed one last (at least two).
        new_lesion: a new measurable enhancing lesion appeared at the last visit.
        region: the region whose SPD is assessed (see :func:`compare_measurements`).

    Returns:
        :func:`compare_measurements`'s result for the deciding reference visit, with
        ``response["baseline"]``, ``response["nadir"]`` and ``response["compared_with"]``
        (visit labels; None when no earlier visit showed the enhancing lesion).
    """
    region = Region(region)
    if len(visits) < 2:
        raise InputError("a response needs at least two visits", "add a follow-up visit")
    *earlier, last = visits
    assessable = [v for v in earlier if v.shows(region) and v.shows(Region.ET)]
    if not assessable:
        # No earlier visit shows enhancement: only the whole tumour can be compared.
        ref = earlier[-1]
        out = _compare(ref, last, new_lesion, region)
        out["response"].update(baseline=None, nadir=None, compared_with=ref.label)
        return out
    baseline = assessable[0]
    nadir = min(
        assessable, key=lambda v: _as_measurement(v.measurements[region.value]).sum_of_products_mm2
    )
    vs_nadir = _compare(nadir, last, new_lesion, region)
    chosen, ref = (
        (vs_nadir, nadir)
        if vs_nadir["response"]["category"] == "PD"
        else (_compare(baseline, last, new_lesion, region), baseline)
    )
    chosen["response"].update(baseline=baseline.label, nadir=nadir.label, compared_with=ref.label)
    return chosen


def _compare(
    before: VisitMeasurements, after: VisitMeasurements, new_lesion: bool, region: Region
) -> dict[str, Any]:
    return compare_measurements(
        before.measurements,
        after.measurements,
        new_lesion=new_lesion,
        region=region,
        observable_before=before.observable,
        observable_after=after.observable,
    )
