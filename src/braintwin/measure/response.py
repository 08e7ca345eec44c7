"""Change between two visits and a RANO-style response category.

Thresholds from the RANO criteria for high-grade glioma (Wen et al. 2010, J Clin Oncol
28(11):1963-1972), applied to the sum of products of perpendicular diameters (SPD) of the
measurable contrast-enhancing lesions:

- CR (complete response): all enhancing disease has disappeared;
- PR (partial response): SPD decreased by ≥ 50 %;
- PD (progressive disease): SPD increased by ≥ 25 %, or a new measurable lesion appeared;
- SD (stable disease): otherwise.

An enhancing lesion is measured across its outer margins, necrotic core included, as a
radiologist measures a ring-enhancing glioblastoma: the SPD is taken from the tumour core
TC = {necrosis, enhancing} (BraTS labels 1 and 4), not from the enhancing voxels ET alone. A
thin or fragmented enhancing rim splits into pieces narrower than 10 mm, none of them
measurable, and an ET-only SPD would then fall to 0 — a spurious "PR (-100 %)" while the
lesion grows. Complete response still means that no enhancing (ET) voxel is left.

Non-enhancing disease: RANO calls PD on a significant T2/FLAIR increase and requires it to be
stable for PR. Here that is quantified on the whole tumour WT: a volume increase of ≥ 40 %
(``NONENHANCING_PD_VOLUME``; the volume of a sphere whose diameters grew by the bidimensional
25 %, 1.25^1.5 ≈ 1.40, the volumetric threshold of Ellingson et al. 2017, Neurotherapeutics
14:307-320) is PD whatever the enhancing lesion did.

A region that a visit cannot show is never read as 0: without a T1ce image there is no
enhancing tumour and no tumour core to see (``observable_regions``); such a comparison is
"NE" (not evaluable) unless the whole tumour alone shows progression.

Only the imaging part of RANO is computed. RANO also requires the response to be sustained
for ≥ 4 weeks, stable or lower corticosteroid dose and clinical status, and compares PD
against the smallest SPD so far (nadir) and PR against the baseline:
:func:`braintwin.measure.series.assess_response` does that over a patient's visits. The
result states what was assessed in ``basis`` and why in ``reasons``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import numpy as np
from scipy import ndimage

from braintwin.errors import InputError
from braintwin.measure.regions import RegionMeasurement, bidimensional, crop_affine
from braintwin.types import Modality, Region, Volume, check_labels, region_mask

__all__ = [
    "CONTRAST_REGIONS",
    "MOSTLY_NONENHANCING",
    "NONENHANCING_PD_VOLUME",
    "PD_INCREASE",
    "PR_DECREASE",
    "RANO_REFERENCE",
    "compare_measurements",
    "new_lesions",
    "observable_regions",
    "rano_category",
    "stored_observable",
]

PR_DECREASE = 0.50  # Wen et al. 2010: >= 50 % decrease in SPD
PD_INCREASE = 0.25  # Wen et al. 2010: >= 25 % increase in SPD
RANO_REFERENCE = "Wen PY et al. Updated response assessment criteria for high-grade gliomas: RANO. J Clin Oncol 2010;28:1963-72"
#: ET below this fraction of TC: the core is mostly non-enhancing (said in the reasons).
MOSTLY_NONENHANCING = 0.10
NONENHANCING_PD_VOLUME = 0.40  # WT volume +40 % = a 25 % bidimensional increase (Ellingson 2017)
#: Regions only a contrast-enhanced T1 (T1ce) shows: the enhancing rim and the core it encloses.
CONTRAST_REGIONS = frozenset(r.value for r in (Region.ET, Region.TC, Region.NECROSIS, Region.EDEMA))
_ALL_REGIONS = frozenset(r.value for r in Region)

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


def observable_regions(
    modalities: Iterable[Modality | str] = (), declared: Iterable[Region | str] | None = None
) -> frozenset[str]:
    """The regions a visit can show: ``declared`` (e.g. a segmentation's
    ``observable_regions``) when given, else derived from the visit's ``modalities``.

    Without a T1ce image the enhancing tumour, the core it encloses and hence the split of WT
    into core and edema are not observable; WT is (from FLAIR/T2, or at worst T1). With no
    modality information at all every region is assumed observable.
    """
    if declared is not None:
        return frozenset(Region(r).value for r in declared)
    names = {str(getattr(m, "value", m)).lower() for m in modalities}
    if not names & {m.value for m in Modality.mri()}:
        return _ALL_REGIONS
    if Modality.T1CE.value in names:
        return _ALL_REGIONS
    return _ALL_REGIONS - CONTRAST_REGIONS


def stored_observable(
    meta: Mapping[str, Any], modalities: Iterable[Modality | str]
) -> frozenset[str]:
    """The regions a stored visit can show: what its segmentation declared in
    ``meta["segmentation"]["observable_regions"]``, else derived from its ``modalities``."""
    seg = meta.get("segmentation")
    declared = seg.get("observable_regions") if isinstance(seg, Mapping) else None
    return observable_regions(modalities, declared)


def _change(before: float, after: float) -> dict[str, float | None]:
    pct = None if before == 0 else 100.0 * (after - before) / before
    return {"before": before, "after": after, "absolute": after - before, "percent": pct}


def _nonenhancing_change(
    before: MeasurementsLike, after: MeasurementsLike, seen: Collection[str]
) -> float | None:
    """Percent WT volume change, or None when WT is not measured/observable in both."""
    wt = Region.WT.value
    if wt not in seen or wt not in before or wt not in after:
        return None
    return _change(_as_measurement(before[wt]).volume_ml, _as_measurement(after[wt]).volume_ml)[
        "percent"
    ]


def compare_measurements(
    before: MeasurementsLike,
    after: MeasurementsLike,
    *,
    new_lesion: bool = False,
    region: Region | str = Region.TC,
    observable_before: Collection[str] | None = None,
    observable_after: Collection[str] | None = None,
) -> dict[str, Any]:
    """Absolute and percent change per region and a RANO-style response category.

    Args:
        before: region -> measurement of the reference visit (``RegionMeasurement`` or its
            ``to_dict()``), as returned by :func:`measure_segmentation`.
        after: the same for the follow-up visit.
        new_lesion: a new measurable enhancing lesion appeared (e.g. from
            :func:`new_lesions`); forces PD.
        region: the region whose SPD drives the category (TC: the enhancing lesion with its
            necrotic core; see the module docstring).
        observable_before, observable_after: regions each visit can show (see
            :func:`observable_regions`); None: all. A region not observable in either visit
            is left out of ``regions`` (listed in ``not_compared``), never read as 0.

    Returns:
        ``{"regions": {name: {quantity: {"before", "after", "absolute", "percent"}}},
        "not_compared": [names], "response": {"category", "spd_before_mm2",
        "spd_after_mm2", "spd_change_percent", "nonenhancing_change_percent", "region",
        "reasons", "basis", "reference"}}``. Percent is None when the before value is 0; the
        SPD fields are None when the category is "NE" (not evaluable). Units: mL, mm, mm².
    """
    region = Region(region)
    seen = set(_ALL_REGIONS if observable_before is None else observable_before)
    seen &= set(_ALL_REGIONS if observable_after is None else observable_after)
    enh = Region.ET.value
    needed = [region.value, enh]
    if any(r not in before or r not in after for r in needed):
        raise InputError(
            f"both visits need the {' and '.join(needed)} measurements to assess response",
            "measure both segmentations with measure_segmentation()",
        )
    regions: dict[str, Any] = {}
    for name in (r for r in before if r in after and r in seen):
        b, a = _as_measurement(before[name]), _as_measurement(after[name])
        regions[name] = {q: _change(float(getattr(b, q)), float(getattr(a, q))) for q in _COMPARED}
    reasons: list[str] = []
    wt_pct = _nonenhancing_change(before, after, seen)
    nonenh_pd = wt_pct is not None and wt_pct >= 100.0 * NONENHANCING_PD_VOLUME
    spd: dict[str, float | None] = {"before": None, "after": None, "percent": None}
    if region.value in seen and enh in seen:
        b, a = _as_measurement(before[region.value]), _as_measurement(after[region.value])
        category = rano_category(
            b.sum_of_products_mm2,
            a.sum_of_products_mm2,
            enhancing_after_ml=_as_measurement(after[enh]).volume_ml,
            enhancing_before_ml=_as_measurement(before[enh]).volume_ml,
            new_lesion=new_lesion,
        )
        spd = _change(b.sum_of_products_mm2, a.sum_of_products_mm2)
        reasons.append(f"{category} from the SPD of the enhancing lesions ({region.value})")
        faint = [
            label
            for label, m in (("reference", before), ("follow-up", after))
            if _as_measurement(m[region.value]).volume_ml > 0
            and _as_measurement(m[enh]).volume_ml
            < MOSTLY_NONENHANCING * _as_measurement(m[region.value]).volume_ml
        ]
        if faint:
            reasons.append(
                f"mostly non-enhancing tumour core at the {' and '.join(faint)} visit "
                f"(ET < {MOSTLY_NONENHANCING:.0%} of TC): RANO for high-grade glioma may not "
                "apply (consider RANO-LGG)"
            )
    else:
        category = "PD" if new_lesion else "NE"
        reasons.append(
            f"enhancing disease not observable in both visits (no T1ce): {region.value} and "
            f"{enh} not compared"
        )
    if nonenh_pd and category != "PD":
        category = "PD"
        reasons.append(
            f"non-enhancing progression: WT volume {wt_pct:+.0f} % "
            f"(>= +{100 * NONENHANCING_PD_VOLUME:.0f} %)"
        )
    return {
        "regions": regions,
        "not_compared": sorted({*before, *after} - set(regions)),
        "response": {
            "category": category,
            "region": region.value,
            "spd_before_mm2": spd["before"],
            "spd_after_mm2": spd["after"],
            "spd_change_percent": spd["percent"],
            "nonenhancing_change_percent": wt_pct,
            "new_lesion": new_lesion,
            "reasons": reasons,
            "basis": (
                "imaging only: SPD of measurable enhancing lesions measured across their "
                "outer margins (TC; both diameters >= 10 mm), complete response when no "
                "enhancing voxel is left, WT volume +40 % as non-enhancing progression; "
                "not assessed: duration >= 4 weeks, corticosteroids, clinical status"
            ),
            "reference": RANO_REFERENCE,
        },
    }
