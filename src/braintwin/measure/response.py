"""Change between two visits and a RANO-style response category.

Thresholds from the RANO criteria for high-grade glioma (Wen et al. 2010, J Clin Oncol
28(11):1963-1972), applied to the sum of products of perpendicular diameters (SPD) of the
measurable enhancing lesions:

- CR (complete response): all enhancing disease has disappeared;
- PR (partial response): SPD decreased by ≥ 50 %;
- PD (progressive disease): SPD increased by ≥ 25 %, or a new measurable lesion appeared;
- SD (stable disease): otherwise.

Only the imaging part of RANO is computed. RANO also requires the response to be sustained
for ≥ 4 weeks, stable or lower corticosteroid dose, clinical status, a non-enhancing (T2/FLAIR)
assessment, and compares PD against the smallest SPD so far (nadir) rather than the previous
visit: pass the nadir visit as ``before`` for that. The result states this in ``basis``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import ndimage

from braintwin.errors import InputError
from braintwin.measure.regions import RegionMeasurement, bidimensional, crop_affine
from braintwin.types import Region, Volume, check_labels, region_mask

__all__ = [
    "PD_INCREASE",
    "PR_DECREASE",
    "RANO_REFERENCE",
    "compare_measurements",
    "new_lesions",
    "rano_category",
]

PR_DECREASE = 0.50  # Wen et al. 2010: >= 50 % decrease in SPD
PD_INCREASE = 0.25  # Wen et al. 2010: >= 25 % increase in SPD
RANO_REFERENCE = "Wen PY et al. Updated response assessment criteria for high-grade gliomas: RANO. J Clin Oncol 2010;28:1963-72"

_COMPARED = (
    "volume_ml",
    "largest_diameter_mm",
    "bidimensional_mm2",
    "sum_of_products_mm2",
    "n_measurable",
    "n_components",
)

MeasurementsLike = Mapping[str, RegionMeasurement | Mapping[str, Any]]


def _as_measurement(x: RegionMeasurement | Mapping[str, Any]) -> RegionMeasurement:
    return x if isinstance(x, RegionMeasurement) else RegionMeasurement.from_dict(dict(x))


def rano_category(
    spd_before: float,
    spd_after: float,
    *,
    enhancing_after_ml: float,
    enhancing_before_ml: float | None = None,
    new_lesion: bool = False,
) -> str:
    """RANO imaging category from the SPDs (mm²) of two visits.

    Args:
        spd_before: SPD at the reference (baseline or nadir) visit, mm².
        spd_after: SPD at the follow-up visit, mm².
        enhancing_after_ml: enhancing-tumour volume at follow-up (mL); 0 means disappeared.
        enhancing_before_ml: enhancing volume at the reference visit (mL), if known; when it
            is 0 too, nothing disappeared, so the result is SD rather than CR (a
            non-enhancing tumour is assessed by other criteria, e.g. RANO-LGG).
        new_lesion: a new measurable enhancing lesion was found at follow-up.

    Returns:
        "CR", "PR", "SD" or "PD".
    """
    if min(spd_before, spd_after, enhancing_after_ml, enhancing_before_ml or 0.0) < 0:
        raise InputError("SPD and volumes must be non-negative")
    if new_lesion:
        return "PD"
    if enhancing_after_ml == 0.0:
        return "SD" if enhancing_before_ml == 0.0 else "CR"
    if spd_before == 0.0:
        # No measurable disease at the reference visit: a measurable lesion now is new.
        return "PD" if spd_after > 0.0 else "SD"
    change = (spd_after - spd_before) / spd_before
    if change >= PD_INCREASE:
        return "PD"
    if change <= -PR_DECREASE:
        return "PR"
    return "SD"


def new_lesions(
    before: Volume, after: Volume, region: Region | str = Region.ET, *, margin_mm: float = 5.0
) -> int:
    """Count measurable lesions at follow-up that do not touch the region at the reference.

    A follow-up lesion (26-connected component) is *new* when none of its voxels lies within
    ``margin_mm`` of the reference region, which tolerates small registration error between
    visits. Both label volumes must be on one grid (co-register the visits first).

    Returns:
        The number of new lesions that are measurable by RANO (both diameters >= 10 mm).
    """
    if not before.same_grid(after):
        raise InputError(
            "the two segmentations are not on the same grid",
            "register the follow-up to the reference visit before comparing lesions",
        )
    check_labels(before.data)
    check_labels(after.data)
    old = region_mask(before.data, region)
    if old.any() and margin_mm > 0:
        # Distance in mm from the old region, honouring anisotropic voxels.
        dist = ndimage.distance_transform_edt(~old, sampling=before.spacing)
        old = dist <= margin_mm
    labels, _ = ndimage.label(region_mask(after.data, region), structure=np.ones((3, 3, 3)))
    count = 0
    for comp, sl in enumerate(ndimage.find_objects(labels)):
        if sl is None:
            continue
        sub = labels[sl] == comp + 1
        if np.any(old[sl] & sub):
            continue
        start = (sl[0].start, sl[1].start, sl[2].start)
        if bidimensional(sub, crop_affine(after.affine, start)).measurable:
            count += 1
    return count


def _change(before: float, after: float) -> dict[str, float | None]:
    pct = None if before == 0 else 100.0 * (after - before) / before
    return {"before": before, "after": after, "absolute": after - before, "percent": pct}


def compare_measurements(
    before: MeasurementsLike,
    after: MeasurementsLike,
    *,
    new_lesion: bool = False,
    region: Region | str = Region.ET,
) -> dict[str, Any]:
    """Absolute and percent change per region and a RANO-style response category.

    Args:
        before: region -> measurement of the reference visit (``RegionMeasurement`` or its
            ``to_dict()``), as returned by :func:`measure_segmentation`.
        after: the same for the follow-up visit.
        new_lesion: a new measurable enhancing lesion appeared (e.g. from
            :func:`new_lesions`); forces PD.
        region: the region whose SPD drives the category (ET, as RANO specifies).

    Returns:
        ``{"regions": {name: {quantity: {"before", "after", "absolute", "percent"}}},
        "response": {"category", "spd_before_mm2", "spd_after_mm2", "spd_change_percent",
        "region", "basis", "reference"}}``. Percent is None when the before value is 0.
        Units: mL, mm, mm².
    """
    region = Region(region)
    common = [r for r in before if r in after]
    if region.value not in common:
        raise InputError(
            f"both visits need the {region.value} measurement to assess response",
            "measure both segmentations with measure_segmentation()",
        )
    regions: dict[str, Any] = {}
    for name in common:
        b, a = _as_measurement(before[name]), _as_measurement(after[name])
        regions[name] = {q: _change(float(getattr(b, q)), float(getattr(a, q))) for q in _COMPARED}
    b, a = _as_measurement(before[region.value]), _as_measurement(after[region.value])
    category = rano_category(
        b.sum_of_products_mm2,
        a.sum_of_products_mm2,
        enhancing_after_ml=a.volume_ml,
        enhancing_before_ml=b.volume_ml,
        new_lesion=new_lesion,
    )
    spd = _change(b.sum_of_products_mm2, a.sum_of_products_mm2)
    return {
        "regions": regions,
        "response": {
            "category": category,
            "region": region.value,
            "spd_before_mm2": spd["before"],
            "spd_after_mm2": spd["after"],
            "spd_change_percent": spd["percent"],
            "new_lesion": new_lesion,
            "basis": (
                "imaging only: SPD of measurable enhancing lesions (both diameters >= 10 mm); "
                "not assessed: duration >= 4 weeks, corticosteroids, clinical status, "
                "non-enhancing T2/FLAIR progression"
            ),
            "reference": RANO_REFERENCE,
        },
    }
