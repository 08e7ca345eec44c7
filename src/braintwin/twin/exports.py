"""Export a visit's segmentation in the patient's native space (NIfTI, DICOM-SEG, meshes).

Also the segmentation's uncertainty map (``segment --uncertainty``) when the visit has one.
"""

from __future__ import annotations

from pathlib import Path

from braintwin.errors import NotFoundError
from braintwin.types import Modality, Visit

__all__ = ["UNCERTAINTY_FILE", "export_visit"]

#: File name of the exported uncertainty map (TTA variance of the WT probability × 4, 0-1).
UNCERTAINTY_FILE = "uncertainty.nii.gz"


def export_visit(
    visit: Visit, out_dir: Path, *, native: bool = True, patient_id: str = "ANONYMOUS"
) -> list[Path]:
    """Write the visit's segmentation outputs into ``out_dir``; return the written paths.

    With ``native`` the labels (and the uncertainty map, trilinearly) are first mapped back
    onto the grid of the visit's reference modality as it was acquired (using the stored
    preprocessing transforms), so they overlay the original scan; the file names carry no
    identifiers. The DICOM SEG names the patient by ``patient_id`` (the twin's pseudonym) and
    is dated on the visit's shifted date, like everything else braintwin stores.
    """
    from braintwin.io import save_nifti
    from braintwin.measure import export_segmentation_outputs
    from braintwin.preprocess import to_native

    if visit.segmentation is None:
        raise NotFoundError(
            f"visit {visit.date} has no segmentation", "run `braintwin segment ID` first"
        )
    seg = visit.segmentation
    uncertainty = visit.extras.get("uncertainty")
    transforms = visit.meta.get("transforms")
    if native and transforms:
        fixed = transforms.get("fixed", Modality.T1CE.value)
        seg = to_native(seg, transforms, fixed)  # labels: nearest neighbour
        if uncertainty is not None:
            uncertainty = to_native(uncertainty, transforms, fixed, order=1)
    written = export_segmentation_outputs(
        seg,
        None,
        out_dir,
        formats=("nifti", "dicom-seg", "stl", "csv"),
        patient_id=patient_id,
        study_date=visit.date,
    )
    if uncertainty is not None:
        written.append(save_nifti(uncertainty, Path(out_dir) / UNCERTAINTY_FILE))
    return written
