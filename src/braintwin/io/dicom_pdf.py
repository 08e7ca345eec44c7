"""A PDF document wrapped in a DICOM Encapsulated PDF object (PS3.3 A.45.1), with pydicom.

The object joins an existing study (patient and study attributes copied from a dataset of that
study, e.g. the visit's SEG), so a PACS files the report beside its images. Modality is ``DOC``;
``BurnedInAnnotation`` is ``YES`` because a rendered report shows the pseudonym and dates as
text. Series and content dates are the study's (shifted) date, never the export's clock.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from braintwin.atomic import atomic_write_with
from braintwin.errors import InputError

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = ["ENCAPSULATED_PDF_SOP_CLASS", "encapsulate_pdf", "save_encapsulated_pdf"]

ENCAPSULATED_PDF_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.104.1"
_PATIENT_STUDY = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientIdentityRemoved",
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber",
    "ReferringPhysicianName",
)  # fmt: skip


def encapsulate_pdf(
    pdf: bytes,
    study: Dataset,
    *,
    title: str,
    series_uid: str,
    sop_uid: str,
    series_number: int = 903,
    version: str = "",
) -> Dataset:
    """An Encapsulated PDF dataset holding ``pdf``, in ``study``'s patient and study.

    Args:
        pdf: the document's bytes (must start with ``%PDF-``).
        study: any dataset of the target study (patient and study modules are copied).
        title: DocumentTitle (64 characters at most); no identifiers.
        series_uid, sop_uid: the new object's UIDs.
        series_number: its series number.
        version: the software version recorded in SoftwareVersions.
    """
    from pydicom import Dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian

    if not pdf.startswith(b"%PDF-"):
        raise InputError("the report is not a PDF document", "give the bytes of a .pdf file")
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(ENCAPSULATED_PDF_SOP_CLASS)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID = ENCAPSULATED_PDF_SOP_CLASS, sop_uid
    for key in _PATIENT_STUDY:
        setattr(ds, key, study.get(key, ""))
    day = str(study.get("StudyDate", "") or "")
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber = "DOC", series_uid, series_number
    ds.SeriesDate, ds.SeriesTime, ds.SeriesDescription = day, "000000", "braintwin report"
    ds.InstanceNumber, ds.ContentDate, ds.ContentTime = 1, day, "000000"
    ds.AcquisitionDateTime = f"{day}000000" if day else ""
    ds.Manufacturer, ds.SoftwareVersions = "braintwin", version
    ds.ConversionType = "WSD"  # workstation: the document was made by software
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title[:64]
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    # OB values must have even length; PS3.3 C.24.2.1 keeps the true length in its own tag.
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")
    return ds


def save_encapsulated_pdf(ds: Dataset, path: str | os.PathLike[str]) -> Path:
    """Write ``ds`` atomically (Part 10 file)."""
    return atomic_write_with(Path(path), lambda tmp: ds.save_as(tmp, enforce_file_format=True))
