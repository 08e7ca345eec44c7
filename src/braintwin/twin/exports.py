"""Export a visit's segmentation in the patient's native space (NIfTI, DICOM-SEG, meshes)."""

from __future__ import annotations

from pathlib import Path

from braintwin.errors import NotFoundError
from braintwin.types import Modality, Visit

__all__ = ["export_visit"]


def export_visit(visit: Visit, out_dir: Path, *, native: bool = True) -> list[Path]:
    """Write the visit's segmentation outputs into ``out_dir``; return the written paths.

    With ``native`` the labels are first mapped back onto the grid of the visit's reference
    modality as it was acquired (using the stored preprocessing transforms), so they overlay
    the original scan; the file names carry no identifiers.
    """
    from braintwin.measure import export_segmentation_outputs
    from braintwin.preprocess import to_native

    if visit.segmentation is None:
        raise NotFoundError(
            f"visit {visit.date} has no segmentation", "run `braintwin segment ID` first"
        )
    seg = visit.segmentation
    transforms = visit.meta.get("transforms")
    if native and transforms:
        fixed = transforms.get("fixed", Modality.T1CE.value)
        seg = to_native(seg, transforms, fixed)
    return export_segmentation_outputs(
        seg, None, out_dir, formats=("nifti", "dicom-seg", "stl", "csv")
    )
