"""Tissue maps from the MNI152 atlas shipped with nilearn (no download).

``mni152_tissue_maps`` registers the MNI152 2009 T1 template affinely to the patient's T1 or
T1ce with SimpleITK (Mattes mutual information, multi-resolution; Mattes et al. 2003), then
resamples the template's grey/white-matter probability maps with the same transform.
``mni152_domain`` gives the atlas brain itself as a domain (benchmarks, in-silico patients).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from braintwin.errors import InputError
from braintwin.growth.domain import Domain
from braintwin.types.volume import Modality, Volume

__all__ = ["TissueMaps", "mni152_domain", "mni152_tissue_maps", "mni152_volumes"]

_LPS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class TissueMaps:
    """White/grey matter and CSF probability volumes on the patient grid; ``metric`` is the
    final Mattes MI of the registration (more negative = better)."""

    wm: Volume
    gm: Volume
    csf: Volume
    metric: float


def mni152_volumes(resolution_mm: int = 1) -> dict[str, Volume]:
    """The nilearn MNI152 template: ``{"t1", "gm", "wm", "brain"}`` volumes (1 or 2 mm).

    Fresh copies every call (the read-only loaded arrays are cached per resolution, because
    nilearn takes seconds to load them).
    """
    if resolution_mm not in (1, 2):
        raise InputError(f"MNI152 resolution must be 1 or 2 mm, got {resolution_mm}")
    return {
        name: Volume(data.copy(), affine.copy(), modality, {"source": "nilearn MNI152"})
        for name, (data, affine, modality) in _load_mni152(resolution_mm).items()
    }


@functools.lru_cache(maxsize=2)
def _load_mni152(resolution_mm: int) -> dict[str, tuple[np.ndarray, np.ndarray, Modality]]:
    from nilearn import datasets

    loaders = {
        "t1": (datasets.load_mni152_template, Modality.T1),
        "gm": (datasets.load_mni152_gm_template, Modality.PROBABILITY),
        "wm": (datasets.load_mni152_wm_template, Modality.PROBABILITY),
        "brain": (datasets.load_mni152_brain_mask, Modality.MASK),
    }
    out = {}
    for name, (load, modality) in loaders.items():
        img: Any = load(resolution=resolution_mm)
        data = np.asarray(img.get_fdata(), dtype=np.float32)
        if modality is Modality.MASK:
            data = (data > 0.5).astype(np.uint8)
        data.setflags(write=False)
        out[name] = (data, np.asarray(img.affine), modality)
    return out


def mni152_domain(resolution_mm: int = 1) -> Domain:
    """The MNI152 brain as a domain (its own grid; CSF = brain - GM - WM)."""
    v = mni152_volumes(resolution_mm)
    return Domain.from_tissue_maps(v["wm"], v["gm"], None, v["brain"])


def _to_sitk(vol: Volume) -> Any:
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(
        np.ascontiguousarray(np.asarray(vol.data, np.float32).transpose(2, 1, 0))
    )
    a = _LPS @ vol.affine[:3, :3]  # SimpleITK works in LPS world coordinates
    sp = np.linalg.norm(a, axis=0)
    img.SetSpacing(tuple(float(s) for s in sp))
    img.SetDirection(tuple(float(x) for x in (a / sp).ravel()))
    img.SetOrigin(tuple(float(x) for x in _LPS @ vol.affine[:3, 3]))
    return img


def _from_sitk(img: Any, like: Volume, modality: Modality) -> Volume:
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(img).transpose(2, 1, 0)
    return like.with_data(np.ascontiguousarray(arr, dtype=np.float32), modality)


def mni152_tissue_maps(
    target: Volume, brain_mask: Volume | None = None, *, resolution_mm: int = 2
) -> TissueMaps:
    """Atlas tissue maps registered to a patient image.

    Args:
        target: the patient's T1 or T1ce (any grid); maps are returned on its grid.
        brain_mask: patient brain mask on ``target``'s grid; default ``target > 0``
            (skull-stripped input). CSF = brain - GM - WM.
        resolution_mm: template resolution used (2 mm registers in seconds; 1 mm is finer).
    """
    import SimpleITK as sitk

    if brain_mask is not None and not brain_mask.same_grid(target):
        raise InputError("brain mask is not on the target grid", "resample it first")
    brain = (
        (np.asarray(brain_mask.data) > 0) if brain_mask is not None else np.asarray(target.data) > 0
    )
    if not brain.any():
        raise InputError("target image has no brain voxels", "give a skull-stripped T1/T1ce")
    mni = mni152_volumes(resolution_mm)
    fixed = _to_sitk(target.with_data(np.where(brain, target.data, 0).astype(np.float32)))
    moving = _to_sitk(mni["t1"].with_data(mni["t1"].data * mni["brain"].data))
    init = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.AffineTransform(3), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.05, seed=1234)  # fixed seed: reproducible maps
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-4, numberOfIterations=200, gradientMagnitudeTolerance=1e-6
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2])
    reg.SetSmoothingSigmasPerLevel([2.0, 1.0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(init, inPlace=False)
    transform = reg.Execute(fixed, moving)
    maps = {}
    for name in ("wm", "gm"):
        res = sitk.Resample(_to_sitk(mni[name]), fixed, transform, sitk.sitkLinear, 0.0)
        arr = np.clip(_from_sitk(res, target, Modality.PROBABILITY).data, 0, 1) * brain
        maps[name] = target.with_data(arr.astype(np.float32), Modality.PROBABILITY)
    csf = np.clip(1.0 - maps["wm"].data - maps["gm"].data, 0, 1) * brain
    return TissueMaps(
        wm=maps["wm"],
        gm=maps["gm"],
        csf=target.with_data(csf.astype(np.float32), Modality.PROBABILITY),
        metric=float(reg.GetMetricValue()),
    )
