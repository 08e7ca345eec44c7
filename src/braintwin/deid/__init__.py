"""De-identification: pseudonyms, per-patient date shifts, DICOM PS3.15 profile, NIfTI scrub.

This package imports only pydicom and the standard library (never ``braintwin.io``), so the
readers in ``braintwin.io`` can use it without an import cycle.
"""

from braintwin.deid.dicom import DEIDENTIFICATION_METHOD, REMOVED_KEYWORDS, deidentify_dataset
from braintwin.deid.files import deidentify_folder
from braintwin.deid.keys import (
    SECRET_FILENAME,
    date_offset_days,
    load_or_create_secret,
    pseudonym,
    remap_uid,
)
from braintwin.deid.nifti import NIFTI_TEXT_FIELDS, nifti_text_fields, scrub_nifti_header

__all__ = [
    "DEIDENTIFICATION_METHOD",
    "NIFTI_TEXT_FIELDS",
    "REMOVED_KEYWORDS",
    "SECRET_FILENAME",
    "date_offset_days",
    "deidentify_dataset",
    "deidentify_folder",
    "load_or_create_secret",
    "nifti_text_fields",
    "pseudonym",
    "remap_uid",
    "scrub_nifti_header",
]
