"""Reading and writing images: NIfTI, DICOM series, sequence detection, visit layouts.

DICOM input is de-identified by default (``braintwin.deid``); nothing returned here carries a
patient identifier except the explicitly named in-memory fields ``patient_key``/``study_date``.
"""

from braintwin.io.dicom import HEADER_KEYWORDS, DicomSeries, load_dicom_folder, load_dicom_series
from braintwin.io.dicom_write import write_dicom_series
from braintwin.io.dicomseg import save_dicom_seg
from braintwin.io.guards import check_fields_of_view, safe_path
from braintwin.io.layout import VisitImages, read_visit_images
from braintwin.io.mesh import region_mesh, save_mesh
from braintwin.io.nifti import NIFTI_SUFFIXES, is_nifti_name, load_nifti, save_nifti
from braintwin.io.sequence import detect_modality, modality_from_name, modality_from_tags

__all__ = [
    "HEADER_KEYWORDS",
    "NIFTI_SUFFIXES",
    "DicomSeries",
    "VisitImages",
    "check_fields_of_view",
    "detect_modality",
    "is_nifti_name",
    "load_dicom_folder",
    "load_dicom_series",
    "load_nifti",
    "modality_from_name",
    "modality_from_tags",
    "read_visit_images",
    "region_mesh",
    "safe_path",
    "save_dicom_seg",
    "save_mesh",
    "save_nifti",
    "write_dicom_series",
]
