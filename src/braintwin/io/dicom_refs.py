"""Which DICOM study, frame of reference and images a derived object (SEG, RTSTRUCT, SR) refers to.

A viewer or PACS groups objects by Study Instance UID and overlays them by Frame of Reference
UID and referenced SOP Instance UIDs. braintwin never keeps the original UIDs: at ingest each one
is replaced by its keyed remapping (``deid.keys.remap_uid``), and :func:`dicom_record` keeps those
remapped UIDs with the visit (``Visit.meta["dicom"]``), per series with the SOP Instance UID of
every voxel slice and the series' native grid. :class:`StudyReference` carries what an export
needs; :func:`apply_reference` stamps it onto a series synthesised from a Volume
(``dicomseg.synthesize_reference_series``), so that series either *is* (same geometry, same UIDs)
the de-identified source series, or a new series inside the same study.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from braintwin.types import Modality, Volume

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = ["StudyReference", "apply_reference", "dicom_record", "recorded_series"]


@dataclass(frozen=True)
class StudyReference:
    """The study a derived object belongs to, and optionally the exact images it refers to.

    Attributes:
        study_uid: Study Instance UID (the remapped one of an ingested DICOM study, or one
            derived for a NIfTI visit).
        frame_of_reference_uid: the images' Frame of Reference UID.
        series_uid: Series Instance UID of the referenced image series.
        instance_uids: SOP Instance UID of voxel slice k (``data[:, :, k]``) of that series.
        sop_class_uid: SOP Class UID of those images (MR Image Storage unless known).
        existing: True when the series exists elsewhere (the de-identified source images):
            it must be referenced, never re-written with synthesised pixels under its UIDs.
    """

    study_uid: str
    frame_of_reference_uid: str
    series_uid: str
    instance_uids: tuple[str, ...]
    sop_class_uid: str = "1.2.840.10008.5.1.4.1.1.4"
    existing: bool = False


def apply_reference(datasets: Sequence[Dataset], ref: StudyReference) -> None:
    """Give a synthesised one-file-per-slice series ``ref``'s study, frame and image UIDs."""
    from pydicom.uid import UID

    if len(ref.instance_uids) != len(datasets):
        raise ValueError(
            f"{len(ref.instance_uids)} instance UIDs for a series of {len(datasets)} slices"
        )
    for ds, uid in zip(datasets, ref.instance_uids, strict=True):
        ds.StudyInstanceUID = ref.study_uid
        ds.FrameOfReferenceUID = ref.frame_of_reference_uid
        ds.SeriesInstanceUID = ref.series_uid
        ds.SOPClassUID = ref.sop_class_uid
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPClassUID = UID(ref.sop_class_uid)
        ds.file_meta.MediaStorageSOPInstanceUID = UID(uid)


def dicom_record(
    headers: Mapping[Modality, Mapping[str, str]], volumes: Mapping[Modality, Volume]
) -> dict[str, Any] | None:
    """The JSON-ready record of a visit's de-identified DICOM UIDs, or None (no DICOM input).

    ``headers`` are the de-identified header summaries (``VisitImages.headers``) and ``volumes``
    the images as read (their meta carries ``instance_uids`` in voxel slice order). Shape and
    affine of each series are kept so an export can check that a grid it writes on is the
    series' own (an ``--spacing`` override changes it).
    """
    series: dict[str, Any] = {}
    study = ""
    for modality, header in headers.items():
        study = study or str(header.get("StudyInstanceUID", ""))
        vol = volumes.get(modality)
        entry: dict[str, Any] = {
            "series_uid": str(header.get("SeriesInstanceUID", "")),
            "frame_of_reference_uid": str(header.get("FrameOfReferenceUID", "")),
        }
        if vol is not None and vol.meta.get("instance_uids"):
            entry["sop_class_uid"] = str(vol.meta.get("sop_class_uid", ""))
            entry["instance_uids"] = [str(u) for u in vol.meta["instance_uids"]]
            entry["shape"] = [int(n) for n in vol.shape]
            entry["affine"] = np.asarray(vol.affine, float).round(6).tolist()
        series[modality.value] = entry
    if not study:
        return None
    return {"study_uid": study, "series": series}


def recorded_series(
    record: Mapping[str, Any] | None, modality: str, shape: Sequence[int], affine: np.ndarray
) -> dict[str, Any] | None:
    """The recorded series of ``modality`` if it lies on exactly the grid (shape, affine)."""
    entry = ((record or {}).get("series") or {}).get(modality)
    if not entry or not entry.get("instance_uids"):
        return None
    if [int(n) for n in shape] != list(entry.get("shape", [])):
        return None
    if not np.allclose(np.asarray(entry["affine"], float), np.asarray(affine, float), atol=1e-3):
        return None
    return dict(entry)
