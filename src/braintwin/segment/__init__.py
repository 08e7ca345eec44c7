"""3D tumour segmentation: network, training, inference, classical baseline, metrics.

Torch and MONAI are imported only when the network is used, so importing this package is cheap.
"""

from braintwin.segment.api import METHODS, segment_visit, segment_volumes
from braintwin.segment.metrics import dice, hausdorff, hausdorff_reference
from braintwin.segment.regions import labels_to_regions, regions_to_labels
from braintwin.segment.result import Segmentation

__all__ = [
    "METHODS",
    "Segmentation",
    "dice",
    "hausdorff",
    "hausdorff_reference",
    "labels_to_regions",
    "regions_to_labels",
    "segment_visit",
    "segment_volumes",
]
