"""The twin's target volumes: standard and model CTV from its current posterior, and their
export in the patient's native space (NIfTI and one DICOM RT Structure Set).

The CTVs are computed on the twin's grid (``plan.target``) from the newest posterior, i.e.
from its last visit. Export maps each mask back onto the grid of that visit's reference image
as acquired (``preprocess.to_native`` with the stored transforms, nearest neighbour), exactly
as ``twin.exports`` does for segmentations; file names carry no identifiers and the structure
set names the patient by the twin's pseudonym, dated on the visit's shifted date.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from braintwin.atomic import atomic_write
from braintwin.errors import NotFoundError
from braintwin.plan.target import (
    DEFAULT_GROW_DAYS,
    DEFAULT_MARGIN_MM,
    DEFAULT_SAMPLES,
    TargetVolumes,
    target_volumes,
)
from braintwin.twin.model import TwinRef, latest_posterior
from braintwin.types import Modality, Volume

if TYPE_CHECKING:
    from braintwin.io.rtstruct import Roi

__all__ = [
    "TARGET_FILES",
    "export_target_volumes",
    "target_masks",
    "target_rois",
    "twin_target_volumes",
]

#: Exported file names (no identifiers): NIfTI masks, the structure set and its images.
TARGET_FILES = {
    "gtv": "gtv.nii.gz",
    "ctv_standard": "ctv_standard.nii.gz",
    "ctv_model": "ctv_model.nii.gz",
    "rtstruct": "ctv_rtstruct.dcm",
    "reference": "reference",
    "summary": "ctv_summary.json",
}


def twin_target_volumes(
    twin: TwinRef,
    *,
    margin_mm: float = DEFAULT_MARGIN_MM,
    grow_days: float = DEFAULT_GROW_DAYS,
    n_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> TargetVolumes:
    """Standard and equal-volume model CTV of the twin's last modelled visit."""
    post = latest_posterior(twin)
    if post is None:
        raise NotFoundError(
            f"patient {twin.id} has no calibrated growth model",
            f"run `braintwin calibrate {twin.id}` (needs a segmented visit)",
        )
    return target_volumes(
        post, margin_mm=margin_mm, grow_days=grow_days, n_samples=n_samples, seed=seed
    )


def target_masks(targets: TargetVolumes) -> dict[str, Volume]:
    """GTV, standard and model CTV keyed as in ``TARGET_FILES`` (twin grid)."""
    return {"gtv": targets.gtv, "ctv_standard": targets.standard, "ctv_model": targets.model}


def target_rois(targets: TargetVolumes, masks: Mapping[str, Volume]) -> list[Roi]:
    """The RTSTRUCT's ROIs from ``masks`` (``target_masks``, possibly moved to a native grid)."""
    from braintwin.io.rtstruct import Roi

    return [
        Roi("GTV", masks["gtv"], "GTV", "T1ce-visible tumour core (TC)"),
        Roi("CTV_standard", masks["ctv_standard"], "CTV",
            f"GTV + {targets.margin_mm:g} mm within the brain"),
        Roi("CTV_model", masks["ctv_model"], "CTV",
            "equal-volume CTV of highest posterior-mean tumour cell density"),
    ]  # fmt: skip


def export_target_volumes(
    twin: TwinRef, targets: TargetVolumes, out_dir: Path, *, native: bool = True
) -> list[Path]:
    """Write GTV, standard and model CTV as NIfTI and one RTSTRUCT (with its reference
    series) into ``out_dir``; with ``native`` on the planning visit's acquired grid."""
    from braintwin.io import save_nifti
    from braintwin.io.rtstruct import save_rtstruct
    from braintwin.preprocess import to_native

    visit = twin.store.load_visit(twin.id, targets.date)
    masks = target_masks(targets)
    reference: Volume = visit.reference
    transforms = visit.meta.get("transforms")
    if native and transforms:
        fixed = transforms.get("fixed", Modality.T1CE.value)
        masks = {k: to_native(v, transforms, fixed) for k, v in masks.items()}
        reference = to_native(reference, transforms, fixed, order=1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [save_nifti(v, out / TARGET_FILES[k]) for k, v in masks.items()]
    written.append(
        save_rtstruct(
            target_rois(targets, masks),
            out / TARGET_FILES["rtstruct"],
            reference=reference,
            reference_dir=out / TARGET_FILES["reference"],
            patient_id=twin.id,
            study_date=targets.date,
            label="braintwin CTV",
        )
    )
    summary = {**targets.summary(), "space": "native" if native and transforms else "twin grid"}
    atomic_write(out / TARGET_FILES["summary"], json.dumps(summary, indent=2) + "\n")
    written.append(out / TARGET_FILES["summary"])
    return written
