"""The result of a segmentation: labels, optional uncertainty, and flags for a human."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from braintwin.types.volume import Volume

__all__ = ["Segmentation"]


@dataclass
class Segmentation:
    """A tumour segmentation on the input grid.

    Attributes:
        labels: uint8 BraTS labels (0, 1, 2, 4), modality SEG, same grid as the input.
        uncertainty: voxel-wise uncertainty of the whole-tumour probability in [0, 1]
            (test-time-augmentation variance, scaled ×4 so a 50/50 split between flips is 1),
            or None when not requested.
        flags: human-readable warnings (empty prediction, missing modalities, …); empty when
            nothing looked wrong.
        method: the method that produced it ("unet", "kmeans", "gmm").
        meta: provenance (model version, modalities used, seconds) and
            ``observable_regions``: the regions the inputs can show (no "ET" without T1ce).
    """

    labels: Volume
    uncertainty: Volume | None = None
    flags: list[str] = field(default_factory=list)
    method: str = "unet"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def observable_regions(self) -> list[str]:
        """Regions that can be measured from this visit's sequences (ET needs T1ce)."""
        return list(self.meta.get("observable_regions", ["WT", "TC", "ET"]))
