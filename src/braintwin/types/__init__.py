"""Core types: ``Volume``, ``Visit``, ``Patient``, ``TreatmentPlan`` and label conventions."""

from braintwin.types.labels import REGION_LABELS, Label, Region, check_labels, region_mask
from braintwin.types.records import (
    ChemoCourse,
    Fraction,
    Patient,
    Radiotherapy,
    TreatmentPlan,
    Visit,
)
from braintwin.types.volume import (
    Modality,
    Volume,
    axcodes_from_affine,
    spacing_of,
    voxel_volume_of,
)

__all__ = [
    "REGION_LABELS",
    "ChemoCourse",
    "Fraction",
    "Label",
    "Modality",
    "Patient",
    "Radiotherapy",
    "Region",
    "TreatmentPlan",
    "Visit",
    "Volume",
    "axcodes_from_affine",
    "check_labels",
    "region_mask",
    "spacing_of",
    "voxel_volume_of",
]
