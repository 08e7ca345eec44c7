"""Preprocessing: reorient, resample, co-register, bias-correct, brain mask, normalise.

Raw scans are brain-extracted with deepbet on the T1-weighted image (the MNI152 atlas fit is
a flagged fallback); constant non-zero backgrounds of normalised exports are recognised.

Each step is a pure function on ``Volume``s; :func:`preprocess_visit` chains them for one
visit. SimpleITK is imported only inside the functions that need it.
"""

from braintwin.preprocess.background import detect_background, zero_background
from braintwin.preprocess.bias import n4_bias_correct
from braintwin.preprocess.extraction import deepbet_mask
from braintwin.preprocess.geometry import (
    apply_transform,
    bbox_overlap,
    grid_volume,
    reorient_ras,
    resample,
    spacing_grid,
    world_bbox,
)
from braintwin.preprocess.mask import brain_mask, is_skull_stripped, skull_strip
from braintwin.preprocess.native import to_native
from braintwin.preprocess.normalise import zscore
from braintwin.preprocess.pipeline import PreprocessedVisit, PreprocessOptions, preprocess_visit
from braintwin.preprocess.registration import (
    Registration,
    register_affine,
    register_rigid,
    rotation_angle_deg,
    transform_magnitude,
)

__all__ = [
    "PreprocessOptions",
    "PreprocessedVisit",
    "Registration",
    "apply_transform",
    "bbox_overlap",
    "brain_mask",
    "deepbet_mask",
    "detect_background",
    "grid_volume",
    "is_skull_stripped",
    "n4_bias_correct",
    "preprocess_visit",
    "register_affine",
    "register_rigid",
    "reorient_ras",
    "resample",
    "rotation_angle_deg",
    "skull_strip",
    "spacing_grid",
    "to_native",
    "transform_magnitude",
    "world_bbox",
    "zero_background",
    "zscore",
]
