"""2D tumour-type classification (glioma / meningioma / notumor / pituitary) with explanations.

Public API: :func:`classify_image`, :func:`classify_volume_slices`, :func:`classify_visit`
(all return a calibrated :class:`Prediction` with a Grad-CAM PNG), :func:`evaluate_folder`,
:func:`train_classifier`. torch is imported only when a model is used.
"""

from braintwin.classify.dataset import CLASSES
from braintwin.classify.evaluate import evaluate_folder
from braintwin.classify.predict import (
    Prediction,
    classify_image,
    classify_visit,
    classify_volume_slices,
)
from braintwin.classify.train import TrainConfig, train_classifier

__all__ = [
    "CLASSES",
    "Prediction",
    "TrainConfig",
    "classify_image",
    "classify_visit",
    "classify_volume_slices",
    "evaluate_folder",
    "train_classifier",
]
