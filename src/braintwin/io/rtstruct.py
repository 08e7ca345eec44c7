"""DICOM RT Structure Set export (and read-back) of binary masks, with pydicom.

A structure set describes each region of interest (ROI) as closed planar contours, one or more
per image slice, in patient coordinates (DICOM LPS, mm). Contours are traced on every slice
``data[:, :, k]`` of a mask at the 0.5 iso-level (marching squares, ``skimage.measure``), so
each polygon runs half-way between inside and outside voxel centres: a voxel is inside the ROI
exactly when its centre is inside an odd number of the slice's polygons (holes are inner
contours; the even-odd rule that planning systems apply to nested contours).

The contours reference an image series on the masks' grid: a minimal de-identified series
synthesised from a Volume (``dicomseg.synthesize_reference_series``), which can be written
beside the structure set so that a viewer shows both. The patient's name and
ID are the braintwin pseudonym; dates are the visit's shifted date; every UID is new.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from braintwin.atomic import atomic_write_with
from braintwin.errors import InputError
from braintwin.io.dicom_refs import StudyReference
from braintwin.io.dicomseg import synthesize_reference_series
from braintwin.types import Volume

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = ["RTSTRUCT_SOP_CLASS", "Roi", "mask_contours", "read_rtstruct", "save_rtstruct"]

RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"  # RT Structure Set Storage
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
_COLOURS = ((255, 0, 0), (0, 160, 255), (255, 200, 0), (0, 200, 0), (200, 0, 200))


@dataclass(frozen=True)
class Roi:
    """One region of interest: a name (e.g. ``"CTV_model"``), its mask (a Volume whose
    non-zero voxels are inside) and its RT ROI interpreted type (``"GTV"``, ``"CTV"``, ...)."""

    name: str
    mask: Volume
    kind: str = "CTV"
    description: str = ""


def mask_contours(mask: np.ndarray, affine: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Closed contours of a boolean (nx, ny, nz) mask: ``[(slice k, (n, 3) LPS points mm)]``.

    Points are not repeated at the end (CLOSED_PLANAR closes each polygon).
    """
    from skimage.measure import find_contours

    mask = np.asarray(mask, bool)
    out: list[tuple[int, np.ndarray]] = []
    for k in np.flatnonzero(mask.any(axis=(0, 1))):
        # Zero padding closes every contour at the slice edge.
        padded = np.pad(mask[:, :, k].astype(np.float32), 1)
        for c in find_contours(padded, 0.5):
            ij = c[:-1] - 1.0 if np.allclose(c[0], c[-1]) else c - 1.0
            if len(ij) < 3:
                continue
            vox = np.column_stack([ij, np.full(len(ij), float(k))])
            ras = vox @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]
            out.append((int(k), ras @ _RAS_TO_LPS.T))
    return out


def _reference(
    rois: Sequence[Roi],
    reference: Volume | None,
    patient_id: str,
    day: dt.date,
    study: StudyReference | None,
) -> list[Dataset]:
    grid = rois[0].mask
    for roi in rois:
        if not roi.mask.same_grid(grid):
            raise InputError(f"ROI {roi.name!r} is on another grid", "resample the masks onto one")
    source = reference if reference is not None else grid.with_data(np.zeros(grid.shape, np.uint8))
    if not source.same_grid(grid):
        raise InputError(
            "the reference volume and the masks are on different grids",
            "resample the masks onto the reference image first",
        )
    return synthesize_reference_series(
        source,
        patient_id=patient_id,
        series_description="braintwin reference",
        study_date=day,
        study=study,
    )


def save_rtstruct(
    rois: Sequence[Roi],
    path: str | os.PathLike[str],
    *,
    reference: Volume | None = None,
    reference_dir: str | os.PathLike[str] | None = None,
    patient_id: str = "ANONYMOUS",
    study_date: dt.date | None = None,
    label: str = "braintwin",
    study: StudyReference | None = None,
    uids: tuple[str, str] | None = None,
) -> Path:
    """Write ``rois`` as one RT Structure Set.

    Args:
        rois: regions on one grid (non-empty masks).
        path: destination file (e.g. ``ctv_rtstruct.dcm``).
        reference: image (e.g. the T1ce) on the masks' grid from which a de-identified
            reference series is synthesised; default a blank one with the masks' geometry.
        reference_dir: also write that series there (one file per slice).
        patient_id: the braintwin pseudonym (never a real identifier): PatientName and ID.
        study_date: the visit's shifted date (structure set, series and study dates).
        label: StructureSetLabel (16 characters at most).
        study: the study and images the contours refer to (``io.dicom_refs``): the structure
            set then belongs to that study; images that exist elsewhere (``study.existing``)
            are referenced, never written to ``reference_dir``.
        uids: the structure set's own (Series, SOP) Instance UIDs; new random ones by default.
    """
    from pydicom import Dataset
    from pydicom import Sequence as DicomSequence
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    if not rois:
        raise InputError("no ROI to write", "give at least one mask")
    for roi in rois:
        if not np.any(np.asarray(roi.mask.data) > 0):
            raise InputError(f"ROI {roi.name!r} is empty", "an RT structure needs a contour")
    day = study_date or dt.date.today()
    series = _reference(rois, reference, patient_id, day, study)
    first = series[0]
    frame_uid = first.FrameOfReferenceUID
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(RTSTRUCT_SOP_CLASS)
    series_uid, uid = uids if uids else (generate_uid(), generate_uid())
    ds.file_meta.MediaStorageSOPInstanceUID = UID(uid)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = RTSTRUCT_SOP_CLASS, uid
    for key in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"):
        setattr(ds, key, getattr(first, key))
    ds.PatientIdentityRemoved = "YES"
    for key in ("StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber"):
        setattr(ds, key, getattr(first, key))
    ds.ReferringPhysicianName = ""
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber = "RTSTRUCT", series_uid, 901
    ds.SeriesDate, ds.SeriesTime, ds.InstanceNumber = first.StudyDate, "000000", 1
    ds.SeriesDescription = "braintwin target volumes"
    ds.OperatorsName, ds.Manufacturer = "", "braintwin"
    ds.StructureSetLabel = label[:16]
    ds.StructureSetDate, ds.StructureSetTime = first.StudyDate, "000000"

    contour_images = DicomSequence()
    for img in series:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = (
            img.SOPClassUID,
            img.SOPInstanceUID,
        )
        contour_images.append(item)
    ref_series = Dataset()
    ref_series.SeriesInstanceUID, ref_series.ContourImageSequence = (
        first.SeriesInstanceUID,
        contour_images,
    )
    ref_study = Dataset()
    ref_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management
    ref_study.ReferencedSOPInstanceUID = first.StudyInstanceUID
    ref_study.RTReferencedSeriesSequence = DicomSequence([ref_series])
    ref_frame = Dataset()
    ref_frame.FrameOfReferenceUID = frame_uid
    ref_frame.RTReferencedStudySequence = DicomSequence([ref_study])
    ds.ReferencedFrameOfReferenceSequence = DicomSequence([ref_frame])

    roi_set, roi_contours, observations = DicomSequence(), DicomSequence(), DicomSequence()
    for n, roi in enumerate(rois, start=1):
        item = Dataset()
        item.ROINumber, item.ReferencedFrameOfReferenceUID = n, frame_uid
        item.ROIName, item.ROIGenerationAlgorithm = roi.name, "AUTOMATIC"
        if roi.description:
            item.ROIDescription = roi.description[:64]
        roi_set.append(item)
        contours = DicomSequence()
        data = np.asarray(roi.mask.data) > 0
        for k, pts in mask_contours(data, roi.mask.affine):
            c = Dataset()
            img = Dataset()
            img.ReferencedSOPClassUID = series[k].SOPClassUID
            img.ReferencedSOPInstanceUID = series[k].SOPInstanceUID
            c.ContourImageSequence = DicomSequence([img])
            c.ContourGeometricType, c.NumberOfContourPoints = "CLOSED_PLANAR", len(pts)
            c.ContourData = [f"{v:.3f}" for v in pts.ravel()]
            contours.append(c)
        rc = Dataset()
        rc.ReferencedROINumber, rc.ROIDisplayColor = n, list(_COLOURS[(n - 1) % len(_COLOURS)])
        rc.ContourSequence = contours
        roi_contours.append(rc)
        obs = Dataset()
        obs.ObservationNumber, obs.ReferencedROINumber = n, n
        obs.RTROIInterpretedType, obs.ROIInterpreter = roi.kind, ""
        observations.append(obs)
    ds.StructureSetROISequence = roi_set
    ds.ROIContourSequence = roi_contours
    ds.RTROIObservationsSequence = observations
    if reference_dir is not None and not (study is not None and study.existing):
        folder = Path(reference_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(series):
            _save(img, folder / f"IM{i + 1:04d}.dcm")
    return _save(ds, Path(path))


def _save(ds: Dataset, path: Path) -> Path:
    return atomic_write_with(path, lambda tmp: ds.save_as(tmp, enforce_file_format=True))


def read_rtstruct(path: str | os.PathLike[str], like: Volume) -> dict[str, np.ndarray]:
    """Rasterise every ROI of a structure set onto ``like``'s grid: ``{name: bool mask}``.

    A voxel is inside when its centre lies inside an odd number of the polygons on its slice.
    Contours must lie on the grid's slices (as :func:`save_rtstruct` writes them).
    """
    import pydicom
    from skimage.draw import polygon

    try:
        ds = pydicom.dcmread(os.fspath(path))
        names = {int(r.ROINumber): str(r.ROIName) for r in ds.StructureSetROISequence}
        roi_contours = list(ds.ROIContourSequence)
    except (AttributeError, pydicom.errors.InvalidDicomError) as exc:
        raise InputError(f"not a readable RT Structure Set: {exc}") from exc
    inv = np.linalg.inv(like.affine)
    out: dict[str, np.ndarray] = {}
    for rc in roi_contours:
        mask = np.zeros(like.shape, bool)
        for c in getattr(rc, "ContourSequence", []):
            lps = np.asarray(c.ContourData, float).reshape(-1, 3)
            ijk = (lps @ _RAS_TO_LPS.T) @ inv[:3, :3].T + inv[:3, 3]
            k = round(float(ijk[:, 2].mean()))
            if not 0 <= k < like.shape[2] or np.ptp(ijk[:, 2]) > 0.1:
                raise InputError("a contour does not lie on a slice of the given grid")
            rr, cc = polygon(ijk[:, 0], ijk[:, 1], like.shape[:2])
            plane = np.zeros(like.shape[:2], bool)
            plane[rr, cc] = True
            mask[:, :, k] ^= plane  # even-odd: an inner contour is a hole
        out[names.get(int(rc.ReferencedROINumber), str(rc.ReferencedROINumber))] = mask
    return out
