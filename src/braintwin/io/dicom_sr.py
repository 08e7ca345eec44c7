"""The regional tumour measurements as a DICOM Structured Report (TID 1500, highdicom).

One Comprehensive 3D SR per visit holding a TID 1500 *Measurement Report* with one TID 1501
*Measurements and Qualitative Evaluations* group per region (WT, TC, ET):

- Volume (SCT 118565006) in mL (UCUM ``ml``);
- RANO sum of products of perpendicular diameters over up to five measurable lesions (mm²),
  and the index lesion's longest axial diameter (SCT 103339001 "Long axis", mm) and its
  perpendicular (SCT 103340004 "Short axis", mm), its product (mm²).

TID 1501 is used rather than TID 1411 (volumetric ROI): TID 1411 must name *one* image region,
surface or segment, while WT and TC are unions of several segments of the DICOM SEG. The groups
therefore reference no image region; the SEG they were measured on is the SR's evidence
(Current Requested Procedure Evidence), so a PACS links the two. Each region keeps the same
Tracking UID across a patient's visits (given by the caller), so an SR-aware viewer can follow a
region over time; the visit is the TID 1502 time point. Concepts with no standard code (the RANO
sum of products, the number of measurable lesions) use the private scheme ``99BRAINTWIN``.

All dates are the visit's (shifted) date: nothing records when the export ran.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braintwin.atomic import atomic_write_with
from braintwin.errors import InputError

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = [
    "PRIVATE_SCHEME",
    "REGION_NAMES",
    "RegionValues",
    "measurement_report",
    "region_values",
    "save_measurement_report",
]

PRIVATE_SCHEME = "99BRAINTWIN"
#: Region -> finding description (the tracking identifier's text).
REGION_NAMES: dict[str, str] = {
    "WT": "whole tumour (WT)",
    "TC": "tumour core (TC)",
    "ET": "enhancing tumour (ET)",
}


@dataclass(frozen=True)
class RegionValues:
    """What the report states about one region (see ``measure.RegionMeasurement``).

    Units: mL, mm, mm².
    """

    region: str
    volume_ml: float
    sum_of_products_mm2: float
    longest_axial_mm: float
    perpendicular_mm: float
    bidimensional_mm2: float
    n_measurable: int


def region_values(measurements: Mapping[str, Any]) -> list[RegionValues]:
    """The WT/TC/ET values of a visit's stored measurements (``Visit.measurements``)."""
    out = []
    for region in REGION_NAMES:
        m = measurements.get(region)
        if m is None:
            continue
        record = m if isinstance(m, Mapping) else m.to_dict()

        def get(key: str, record: Mapping[str, Any] = record) -> Any:
            return record[key]

        out.append(
            RegionValues(
                region=region,
                volume_ml=float(get("volume_ml")),
                sum_of_products_mm2=float(get("sum_of_products_mm2")),
                longest_axial_mm=float(get("longest_axial_mm")),
                perpendicular_mm=float(get("perpendicular_mm")),
                bidimensional_mm2=float(get("bidimensional_mm2")),
                n_measurable=int(get("n_measurable")),
            )
        )
    return out


def _group(
    values: RegionValues,
    tracking_uid: str,
    time_point: Any,
    algorithm: Any,
) -> Any:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    ml = hd.sr.CodedConcept("ml", "UCUM", "milliliter")
    mm, mm2 = codes.UCUM.Millimeter, codes.UCUM.SquareMillimeter
    spd = hd.sr.CodedConcept(
        "RANO-SPD", PRIVATE_SCHEME, "RANO sum of products of perpendicular diameters"
    )
    product = hd.sr.CodedConcept(
        "RANO-PRODUCT", PRIVATE_SCHEME, "Index lesion product of perpendicular diameters"
    )
    n_measurable = hd.sr.CodedConcept("RANO-NMEAS", PRIVATE_SCHEME, "Number of measurable lesions")
    count = hd.sr.CodedConcept("{lesions}", "UCUM", "lesions")
    measurements = [
        hd.sr.Measurement(name=codes.SCT.Volume, value=values.volume_ml, unit=ml),
        hd.sr.Measurement(name=spd, value=values.sum_of_products_mm2, unit=mm2),
        hd.sr.Measurement(name=codes.SCT.LongAxis, value=values.longest_axial_mm, unit=mm),
        hd.sr.Measurement(name=codes.SCT.ShortAxis, value=values.perpendicular_mm, unit=mm),
        hd.sr.Measurement(name=product, value=values.bidimensional_mm2, unit=mm2),
        hd.sr.Measurement(name=n_measurable, value=float(values.n_measurable), unit=count),
    ]
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=tracking_uid, identifier=REGION_NAMES[values.region]
        ),
        time_point_context=time_point,
        finding_type=codes.SCT.Neoplasm,
        finding_category=codes.SCT.MorphologicallyAbnormalStructure,
        finding_sites=[hd.sr.FindingSite(codes.SCT.Brain)],
        algorithm_id=algorithm,
        measurements=measurements,
    )


def measurement_report(
    evidence: Sequence[Dataset],
    regions: Sequence[RegionValues],
    *,
    tracking_uids: Mapping[str, str],
    time_point: str,
    time_point_order: int,
    device_uid: str,
    series_uid: str,
    sop_uid: str,
    day: dt.date,
    version: str,
) -> Any:
    """A Comprehensive 3D SR (TID 1500) of ``regions``; patient and study from ``evidence[0]``.

    Args:
        evidence: the objects measured (the visit's DICOM SEG first): the SR takes their
            patient and study and lists them as evidence.
        regions: the regions' values (WT, TC, ET).
        tracking_uids: region -> Tracking UID, the same at every visit of the patient.
        time_point: the visit's name in the timeline (e.g. "visit 2"); its order from 1.
        device_uid: the observer device's UID (braintwin in this installation).
        series_uid, sop_uid: the SR's own UIDs.
        day: the visit's (shifted) date: series and content date.
        version: braintwin's version (algorithm identification).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    if not regions:
        raise InputError(
            "the visit has no regional measurements to report", "segment the visit first"
        )
    algorithm = hd.sr.AlgorithmIdentification(name="braintwin", version=version)
    tp = hd.sr.TimePointContext(time_point=time_point, time_point_order=time_point_order)
    groups = [_group(r, tracking_uids[r.region], tp, algorithm) for r in regions]
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=device_uid, name="braintwin", manufacturer_name="braintwin", model_name="braintwin"
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=hd.sr.CodedConcept("24590-2", "LN", "MR Brain"),
        imaging_measurements=groups,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=list(evidence),
        content=report[0],
        series_instance_uid=series_uid,
        series_number=902,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer="braintwin",
        is_complete=True,
        is_final=False,  # computed, not verified by a physician
        series_description="braintwin tumour measurements",
    )
    stamp = day.strftime("%Y%m%d")
    for key in ("SeriesDate", "ContentDate", "InstanceCreationDate"):
        setattr(sr, key, stamp)
    for key in ("SeriesTime", "ContentTime", "InstanceCreationTime"):
        setattr(sr, key, "000000")
    return sr


def save_measurement_report(sr: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``sr`` atomically (Part 10 file)."""
    return atomic_write_with(Path(path), lambda tmp: sr.save_as(tmp, enforce_file_format=True))
