"""NIfTI header scrubbing: the free-text fields where tools and people leave identifiers.

``descrip`` (80 bytes), ``aux_file`` (24), ``intent_name`` (16) and the Analyze-era
``db_name`` (18) and ``data_type`` (10) are cleared, and header extensions (which may embed
whole DICOM headers, e.g. from dcm2nii's ``-e``/AFNI/CIFTI extensions) are dropped.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NIFTI_TEXT_FIELDS", "nifti_text_fields", "scrub_nifti_header"]

NIFTI_TEXT_FIELDS: tuple[str, ...] = ("descrip", "aux_file", "intent_name", "db_name", "data_type")


def scrub_nifti_header(header: Any) -> Any:
    """Clear the text fields and extensions of a nibabel NIfTI-1/2 header in place; return it."""
    for name in NIFTI_TEXT_FIELDS:
        if name in header:
            header[name] = b""
    extensions = getattr(header, "extensions", None)
    if extensions is not None:
        extensions.clear()
    return header


def nifti_text_fields(header: Any) -> dict[str, str]:
    """The header's text fields as strings (for audits and tests)."""
    out: dict[str, str] = {}
    for name in NIFTI_TEXT_FIELDS:
        if name in header:
            raw = header[name]
            value = raw.item() if hasattr(raw, "item") else raw
            out[name] = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return out
