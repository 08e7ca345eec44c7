"""Export a BraTS label volume as a DICOM Segmentation object (highdicom).

One BINARY segment per tumour label: necrotic / non-enhancing core (1), peritumoral edema
(2), enhancing tumour (4), each coded with SNOMED CT concepts (category "Morphologically
abnormal structure"; types Necrosis, Edema, Neoplasm) and the anatomic region Brain.

A SEG must reference the images it segments. When the visit came from DICOM, pass those
datasets; otherwise (NIfTI input) a minimal, de-identified MR series is synthesised in
memory from the Volume's geometry, and optionally written next to the SEG so a viewer can
show both. Voxel ↔ frame mapping: frame k is voxel slice ``data[:, :, k]``; DICOM columns
follow voxel axis i and rows voxel axis j, and world RAS+ is converted to DICOM's LPS.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from braintwin.atomic import atomic_write_with
from braintwin.errors import InputError
from braintwin.io.dicom_refs import StudyReference, apply_reference
from braintwin.types import Label, Volume, check_labels

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = [
    "SEGMENT_LABELS",
    "dicom_series_affine",
    "save_dicom_seg",
    "synthesize_reference_series",
]

# label value -> (segment label, SNOMED type keyword in pydicom's codedict)
SEGMENT_LABELS: dict[int, tuple[str, str]] = {
    int(Label.NECROTIC): ("necrotic and non-enhancing tumor core", "Necrosis"),
    int(Label.EDEMA): ("peritumoral edema", "Edema"),
    int(Label.ENHANCING): ("enhancing tumor", "Neoplasm"),
}
_LPS = np.diag([-1.0, -1.0, 1.0])
_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def _to_uint16(data: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Map intensities linearly onto 0..4095 and give the rescale slope/intercept back."""
    lo, hi = float(data.min()), float(data.max())
    slope = (hi - lo) / 4095.0 if hi > lo else 1.0
    return np.round((data - lo) / slope).astype(np.uint16), slope, lo


def synthesize_reference_series(
    volume: Volume,
    *,
    patient_id: str = "ANONYMOUS",
    series_description: str = "braintwin reference",
    study_date: dt.date | None = None,
    study: StudyReference | None = None,
) -> list[Dataset]:
    """A minimal, de-identified MR Image Storage series with ``volume``'s geometry.

    One single-frame dataset per slice k of ``volume.data[:, :, k]``; pixel values are the
    volume's intensities mapped to 12 bits (with RescaleSlope/Intercept to undo it). The
    patient's name and ID are both ``patient_id`` (the braintwin pseudonym, or "ANONYMOUS");
    the study and series date is ``study_date`` (the visit's *shifted* date; today when not
    given); every UID is freshly generated, so nothing identifies the patient. Intended only
    to give a SEG a valid reference. With ``study`` the series takes its study, frame of
    reference, series and instance UIDs instead (``io.dicom_refs``).
    """
    from pydicom import Dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    data = np.asarray(volume.data, dtype=np.float64)
    pixels, slope, intercept = _to_uint16(data)
    rot = _LPS @ volume.affine[:3, :3]
    sp = np.linalg.norm(rot, axis=0)
    row_dir, col_dir = rot[:, 0] / sp[0], rot[:, 1] / sp[1]
    if abs(float(np.cross(row_dir, col_dir) @ rot[:, 2])) / sp[2] < 1 - 1e-4:
        raise InputError(
            "the volume's affine is sheared; DICOM slices need orthogonal axes",
            "resample the volume to an orthogonal grid first",
        )
    study_uid, series, frame = generate_uid(), generate_uid(), generate_uid()
    day = (study_date or dt.date.today()).strftime("%Y%m%d")
    out: list[Dataset] = []
    for k in range(volume.shape[2]):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = UID(_MR_IMAGE_STORAGE)
        uid = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = _MR_IMAGE_STORAGE, uid
        # Family-name component only (trailing caret: a single-component person name).
        ds.PatientName, ds.PatientID = f"{patient_id}^", patient_id
        ds.PatientBirthDate, ds.PatientSex = "", ""
        ds.PatientIdentityRemoved = "YES"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series, frame
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = day, "000000", "1", ""
        ds.SeriesDate, ds.SeriesTime = day, "000000"
        ds.ContentDate, ds.ContentTime = day, "000000"
        ds.ReferringPhysicianName = ""
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "MR", 1, k + 1
        ds.SeriesDescription = series_description
        ds.Manufacturer = "braintwin"
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.ImageOrientationPatient = [float(x) for x in (*row_dir, *col_dir)]
        origin = _LPS @ (volume.affine[:3, :3] @ np.array([0.0, 0.0, k]) + volume.affine[:3, 3])
        ds.ImagePositionPatient = [float(x) for x in origin]
        # PixelSpacing is (between rows, between columns) = (spacing along j, along i).
        ds.PixelSpacing = [float(sp[1]), float(sp[0])]
        ds.SliceThickness = float(sp[2])
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.8g}", f"{intercept:.8g}"
        ds.PixelData = np.ascontiguousarray(pixels[:, :, k].T).tobytes()
        out.append(ds)
    if study is not None:
        apply_reference(out, study)
    return out


def dicom_series_affine(datasets: Sequence[Dataset]) -> tuple[list[Dataset], np.ndarray]:
    """Sort a single-frame series along its normal; return it and its voxel -> RAS affine.

    The affine uses the same index convention as :func:`synthesize_reference_series`
    (i = column, j = row, k = position in the sorted list).
    """
    if not datasets:
        raise InputError("the reference DICOM series is empty")
    try:
        iop = np.asarray(datasets[0].ImageOrientationPatient, dtype=float)
        row_dir, col_dir = iop[:3], iop[3:]
        normal = np.cross(row_dir, col_dir)
        ordered = sorted(datasets, key=lambda d: float(np.dot(normal, d.ImagePositionPatient)))
        ps = [float(x) for x in ordered[0].PixelSpacing]
        pos = np.array([np.asarray(d.ImagePositionPatient, dtype=float) for d in ordered])
    except AttributeError as exc:
        raise InputError(
            f"reference DICOM lacks geometry ({exc})", "give an image series (MR/CT)"
        ) from exc
    step = (
        pos[1] - pos[0]
        if len(pos) > 1
        else normal * float(getattr(ordered[0], "SliceThickness", 1.0))
    )
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = row_dir * ps[1], col_dir * ps[0], step, pos[0]
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    return ordered, ras


def _onto_reference(
    seg: Volume, ref_affine: np.ndarray, ref_shape: tuple[int, int, int]
) -> np.ndarray:
    """Reorient ``seg.data`` (axis flips/permutations only) onto the reference grid."""
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

    tr = ornt_transform(io_orientation(seg.affine), io_orientation(ref_affine))
    data = apply_orientation(seg.data, tr)
    aff = seg.affine @ inv_ornt_aff(tr, seg.shape)
    if data.shape != ref_shape or not np.allclose(aff, ref_affine, atol=1e-2):
        raise InputError(
            "the segmentation is not on the reference series' grid",
            "resample it onto the reference image first (braintwin.preprocess.resample)",
        )
    return np.asarray(data)


def save_dicom_seg(
    seg: Volume,
    reference: Volume | Sequence[Dataset] | None,
    path: str | os.PathLike[str],
    *,
    manual: bool = False,
    reference_dir: str | os.PathLike[str] | None = None,
    patient_id: str = "ANONYMOUS",
    study_date: dt.date | None = None,
    study: StudyReference | None = None,
    uids: tuple[str, str] | None = None,
) -> Path:
    """Write ``seg`` (BraTS labels) as a DICOM SEG with one binary segment per label.

    Args:
        seg: label Volume (nx, ny, nz), values in {0, 1, 2, 4}.
        reference: the source DICOM datasets of the segmented series; or a Volume (e.g. the
            T1ce) from which a de-identified reference series is synthesised; or None to
            synthesise one from ``seg``'s geometry alone (blank pixels).
        path: destination file (e.g. ``seg.dcm``).
        manual: the labels were drawn by an expert (SegmentAlgorithmType MANUAL) rather
            than computed by braintwin (AUTOMATIC).
        reference_dir: where to also write a synthesised reference series (one file per
            slice) so the SEG can be opened with its images; ignored for given datasets.
        patient_id: pseudonym for a synthesised series (never a real identifier); it is
            the patient's name and ID of the reference series and hence of the SEG.
        study_date: the visit's (shifted) date for a synthesised series; the SEG's series
            and content dates are set to it as well, so no date reveals when the export ran
            (with given datasets the SEG takes their study date).
        study: the study and images a synthesised series stands for (``io.dicom_refs``): the
            SEG then belongs to that study and references those UIDs. A reference series of
            images that exist elsewhere (``study.existing``) is never written.
        uids: the SEG's own (Series, SOP) Instance UIDs; new random ones by default.

    Returns:
        The written path.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    check_labels(seg.data)
    labels = np.asarray(seg.data).astype(np.int16)
    present = [v for v in SEGMENT_LABELS if np.any(labels == v)]
    if not present:
        raise InputError("the segmentation has no tumour labels", "nothing to export as DICOM SEG")
    if reference is None or isinstance(reference, Volume):
        source = (
            reference if reference is not None else seg.with_data(np.zeros(seg.shape, np.uint8))
        )
        if not source.same_grid(seg):
            raise InputError(
                "reference volume and segmentation are on different grids",
                "resample the segmentation onto the reference first",
            )
        datasets = synthesize_reference_series(
            source, patient_id=patient_id, study_date=study_date, study=study
        )
        grid = labels
        if reference_dir is not None and not (study is not None and study.existing):
            _write_series(datasets, Path(reference_dir))
    else:
        datasets, ref_affine = dicom_series_affine(list(reference))
        shape = (int(datasets[0].Columns), int(datasets[0].Rows), len(datasets))
        grid = _onto_reference(seg.with_data(labels), ref_affine, shape)
    # (frames, rows, cols, segments): frame k = grid[:, :, k].T
    frames = np.stack([grid == v for v in present], axis=-1).transpose(2, 1, 0, 3)
    algorithm = hd.AlgorithmIdentificationSequence(
        name="braintwin", family=codes.cid7162.ArtificialIntelligence, version=_version()
    )
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=SEGMENT_LABELS[v][0],
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=getattr(codes.SCT, SEGMENT_LABELS[v][1]),
            algorithm_type="MANUAL" if manual else "AUTOMATIC",
            algorithm_identification=None if manual else algorithm,
            anatomic_regions=[codes.SCT.Brain],
        )
        for n, v in enumerate(present, start=1)
    ]
    seg_ds = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=np.ascontiguousarray(frames),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=uids[0] if uids else generate_uid(),
        series_number=900,
        sop_instance_uid=uids[1] if uids else generate_uid(),
        instance_number=1,
        manufacturer="braintwin",
        manufacturer_model_name="braintwin",
        software_versions=_version(),
        device_serial_number="0",
        series_description="braintwin tumour segmentation",
        **_dates(datasets[0]),
    )
    return _atomic_save(seg_ds, Path(path))


def _dates(source: Dataset) -> dict[str, Any]:
    """Series/content date and time of the SEG = the study's (never the export's wall clock)."""
    day = str(getattr(source, "StudyDate", "") or "")
    if len(day) != 8:
        return {}
    when = dt.datetime.strptime(day, "%Y%m%d").date()
    midnight = dt.time(0, 0, 0)
    return {
        "series_date": when,
        "series_time": midnight,
        "content_date": when,
        "content_time": midnight,
    }


def _version() -> str:
    from braintwin import __version__

    return str(__version__)


def _atomic_save(ds: Any, path: Path) -> Path:
    return atomic_write_with(path, lambda tmp: ds.save_as(tmp, enforce_file_format=True))


def _write_series(datasets: Sequence[Dataset], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, ds in enumerate(datasets):
        _atomic_save(ds, folder / f"IM{i + 1:04d}.dcm")
