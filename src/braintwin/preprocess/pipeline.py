"""``preprocess_visit``: one visit's images -> co-registered, bias-corrected, normalised volumes.

Order: reorient to RAS -> choose the fixed modality (T1ce, else the first available) and the
target grid (the fixed image at ``options.spacing``, or the grid of an earlier visit) -> check
fields of view overlap -> rigidly co-register every modality to the fixed one -> (optionally)
register the fixed image to the reference visit -> resample once onto the target grid -> brain
mask -> N4 -> z-score. Every image is interpolated at most once (transforms are composed).

Before anything else, an image with a constant non-zero background (an already normalised
export) is put back on a zero background (:mod:`.background`), so it is recognised as
skull-stripped like its original. Raw scans get their brain mask from deepbet on the
T1-weighted image (:mod:`.mask`); when the atlas fallback is used instead, ``flags`` says so.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy import ndimage

from braintwin.errors import InputError
from braintwin.preprocess.background import zero_background
from braintwin.preprocess.bias import n4_bias_correct
from braintwin.preprocess.geometry import (
    apply_transform,
    bbox_overlap,
    grid_volume,
    reorient_ras,
    spacing_grid,
    world_bbox,
)
from braintwin.preprocess.mask import brain_mask
from braintwin.preprocess.normalise import zscore
from braintwin.preprocess.registration import Registration, register_rigid, transform_magnitude
from braintwin.types import Modality, Volume

__all__ = ["PreprocessOptions", "PreprocessedVisit", "preprocess_visit"]

Progress = Callable[[str, float], None]

#: Smallest brain mask (mL) accepted: far below any real brain, even a partial-coverage slab.
MIN_BRAIN_ML = 20.0


# The contract names a field ``register``; pydantic warns that it shadows ABCMeta.register
# (only reachable on the class, not on instances), which is harmless here.
warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)


class PreprocessOptions(BaseModel):
    """Settings of :func:`preprocess_visit` (validated)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """Target voxel size in mm."""
    n4: bool = True
    """Apply N4 bias-field correction."""
    register: bool = True
    """Co-register modalities (else trust the headers' world coordinates)."""
    skull_strip: Literal["auto", "always", "never"] = "auto"
    brain_extraction: Literal["deepbet", "atlas"] = "deepbet"
    """Brain extraction of raw scans: deepbet on T1w (atlas fit as fallback), or atlas only."""
    min_overlap: float = Field(default=0.5, gt=0.0, le=1.0)
    """Refuse modalities whose world fields of view overlap less than this (fraction)."""
    verify_tolerance_mm: float = Field(default=1.0, gt=0.0)
    """Same-grid images count as co-registered when a quick check moves them less than this."""
    threads: int = Field(default=2, ge=1, le=256)
    """ITK threads (the benchmark target is 2 cores)."""

    @field_validator("spacing")
    @classmethod
    def _positive(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(np.isfinite(s) and 0.1 <= s <= 10.0 for s in v):
            raise ValueError("spacing must be three values between 0.1 and 10 mm")
        return v


@dataclass(frozen=True, eq=False)
class PreprocessedVisit:
    """Result of :func:`preprocess_visit`; every volume is on one RAS grid.

    Attributes:
        volumes: z-scored (inside the brain, 0 outside), N4-corrected float32 images.
        raw: the same images on the same grid, resampled but not corrected or normalised.
        brain_mask: boolean MASK volume.
        transforms: JSON-serialisable record for :func:`braintwin.preprocess.to_native`.
        timings: seconds per step.
        notes: what was decided (e.g. registration skipped after verification).
        flags: warnings for the user (print them): the atlas fallback brain mask was used,
            a constant non-zero background was recognised; empty when nothing is unusual.
    """

    volumes: dict[Modality, Volume]
    raw: dict[Modality, Volume]
    brain_mask: Volume
    transforms: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def grid(self) -> Volume:
        return self.brain_mask


def _fixed_modality(vols: Mapping[Modality, Volume]) -> Modality:
    for m in (Modality.T1CE, *Modality.mri()):
        if m in vols:
            return m
    return next(iter(vols))


def _check_overlap(
    a: Volume,
    b: Volume,
    names: tuple[str, str],
    minimum: float,
    when: str,
    matrix: np.ndarray | None = None,
) -> float:
    ov = bbox_overlap(world_bbox(a, matrix), world_bbox(b))
    if ov < minimum:
        raise InputError(
            f"the fields of view of {names[0]} and {names[1]} overlap only {ov:.0%} {when}",
            f"give images of the same anatomy (at least {minimum:.0%} overlap) or drop one",
        )
    return ov


def _validate(volumes: Mapping[Modality, Volume]) -> dict[Modality, Volume]:
    if not volumes:
        raise InputError("no images to preprocess", "give at least one MRI volume")
    vols: dict[Modality, Volume] = {}
    for key, v in volumes.items():
        m = Modality(key)
        if m.is_label:
            raise InputError(
                f"{m.value} is a label map, not an image to preprocess",
                "map segmentations with to_native / apply_transform instead",
            )
        if not np.any(v.data):
            raise InputError(f"the {m.value} image is all zero", "check the file for this modality")
        vols[m] = v
    return vols


def preprocess_visit(
    volumes: Mapping[Modality, Volume],
    *,
    reference: Volume | None = None,
    options: PreprocessOptions | None = None,
    progress: Progress | None = None,
) -> PreprocessedVisit:
    """Preprocess one visit's MRI volumes onto one RAS grid (see the module docstring).

    Args:
        volumes: images by modality (any orientation, spacing and field of view).
        reference: an earlier visit's (preprocessed) image; this visit's fixed modality is
            rigidly registered to it and everything is put on its grid.
        options: :class:`PreprocessOptions` (defaults: 1 mm, N4, registration, auto strip).
        progress: callback (message, fraction 0..1).

    Raises:
        InputError: no images, an all-zero image, a label map among the images, fields of
            view overlapping less than ``options.min_overlap`` (before or after registration),
            or no brain in the mask.
    """
    import SimpleITK as sitk

    opts = options or PreprocessOptions()
    vols = _validate(volumes)
    report = progress or (lambda _m, _f: None)
    timings: dict[str, float] = {}
    notes: list[str] = []
    flags: list[str] = []
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = timings.get(step, 0.0) + round(now - clock, 4)
        clock = now

    previous_threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(opts.threads)
    try:
        report("checking backgrounds", 0.0)
        for m, v in list(vols.items()):
            vols[m], bg = zero_background(v)
            if bg is not None:
                flags.append(
                    f"{m.value}: constant background {bg.value:.4g} ({bg.fraction:.0%} of the "
                    "grid) recognised, as in an already normalised export; treated as background"
                )
        lap("background")
        report("reorienting to RAS", 0.02)
        ras = {m: reorient_ras(v) for m, v in vols.items()}
        fixed_mod = _fixed_modality(ras)
        fixed = ras[fixed_mod]
        for m, v in ras.items():
            if m != fixed_mod:
                _check_overlap(
                    v,
                    fixed,
                    (m.value, fixed_mod.value),
                    opts.min_overlap,
                    "in the scanner coordinates",
                )
        if reference is not None:
            grid = reference
        elif np.allclose(fixed.spacing, opts.spacing, rtol=0, atol=1e-6):
            grid = fixed
        else:
            grid = grid_volume(*spacing_grid(fixed, opts.spacing))
        lap("reorient")

        # Per-modality map native world -> fixed world (identity for the fixed image).
        matrices: dict[Modality, np.ndarray] = {}
        entries: dict[str, dict[str, Any]] = {}
        n = len(ras)
        for i, (m, v) in enumerate(ras.items()):
            report(f"registering {m.value} to {fixed_mod.value}", 0.05 + 0.45 * i / n)
            method, metric, mat = "fixed", None, np.eye(4)
            if m != fixed_mod and not opts.register:
                method = "header"
            elif m != fixed_mod:
                mat, method, metric = _register_modality(v, fixed, opts, notes)
                _check_overlap(
                    v,
                    fixed,
                    (m.value, fixed_mod.value),
                    opts.min_overlap,
                    "after registration",
                    matrix=mat,
                )
            matrices[m] = mat
            entries[m.value] = {
                "native_affine": vols[m].affine.tolist(),
                "native_shape": list(vols[m].shape),
                "method": method,
                "metric": metric,
            }
        lap("register")

        ref_matrix = np.eye(4)
        if reference is not None:
            report("registering to the reference visit", 0.5)
            # No overlap check in scanner coordinates here: another session may place the
            # head anywhere in the scanner's frame; the centre-of-mass start handles that.
            # Moments need non-negative intensities, and the reference is usually an earlier
            # visit's z-scored image: its bright (positive) tissue locates the brain.
            positive_ref = reference.with_data(np.clip(reference.data, 0, None).astype(np.float32))
            # Two starts, the better Mattes MI kept: intensity centres of mass (a head placed
            # anywhere in another session's scanner frame) and the headers' world coordinates
            # (thick-slab follow-ups whose slabs cover different extents, where the centres of
            # mass differ along the slab and mislead the moments start; seen on real 5 mm pairs).
            # The metric is sampled over the reference brain and a rim around it, so the new
            # visit's scalp and neck (the reference is skull-stripped) cannot pull it away.
            near = ndimage.binary_dilation(reference.data > 0, iterations=5)
            region = reference.with_data(near.astype(np.uint8), Modality.MASK)
            # A start ITK refuses (moments of an already z-scored visit, which has negative
            # values) leaves the other; only when both fail is the visit refused.
            tried: list[Registration] = []
            failure: InputError | None = None
            for init in ("moments", "identity"):
                try:
                    tried.append(register_rigid(fixed, positive_ref, init=init, fixed_mask=region))
                except InputError as exc:
                    failure = exc
            if not tried:
                assert failure is not None
                raise failure
            reg = min(tried, key=lambda r: r.metric)
            ref_matrix = reg.matrix
            _check_overlap(
                fixed,
                reference,
                (f"this visit's {fixed_mod.value}", "the reference"),
                opts.min_overlap,
                "after registration",
                matrix=ref_matrix,
            )
            notes.append(f"registered to reference visit (MI {reg.metric:.3f})")
            lap("register_reference")

        report("resampling onto the common grid", 0.55)
        raw: dict[Modality, Volume] = {}
        for m, v in ras.items():
            total = ref_matrix @ matrices[m]
            entries[m.value]["matrix"] = total.tolist()
            out = apply_transform(v, total, grid)  # one interpolation (none if identity)
            raw[m] = out.with_data(out.data.astype(np.float32), m)
        lap("resample")

        report("brain mask", 0.6)
        mask = brain_mask(
            raw,
            skull_strip_mode=opts.skull_strip,
            method=opts.brain_extraction,
            threads=opts.threads,
            progress=lambda msg, f: report(msg, 0.6 + 0.1 * f),
        )
        mask_ml = float(np.count_nonzero(mask.data)) * mask.voxel_volume_mm3 / 1000.0
        if mask_ml < MIN_BRAIN_ML:
            raise InputError(
                f"the brain mask holds only {mask_ml:.1f} mL: no brain found in the images",
                "check the images (blank, wrong file) or the skull_strip option",
            )
        source = mask.meta.get("brain_mask_source")
        notes.append(
            f"brain mask: {mask.meta.get('brain_mask')}" + (f" on {source}" if source else "")
        )
        if mask.meta.get("brain_mask") == "mni152_affine":
            why = mask.meta.get("brain_mask_fallback")
            flags.append(
                "brain mask from the MNI152 atlas fit "
                + (f"(fallback: {why})" if why else "(brain_extraction='atlas')")
                + ": it may include scalp or miss brain, check it"
            )
        lap("brain_mask")

        corrected = dict(raw)
        if opts.n4:
            for i, (m, v) in enumerate(raw.items()):
                report(f"N4 bias correction ({m.value})", 0.7 + 0.25 * i / n)
                corrected[m] = n4_bias_correct(v, mask)
            lap("n4")

        report("z-score normalisation", 0.95)
        normalised = {m: zscore(v, mask) for m, v in corrected.items()}
        lap("zscore")
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous_threads)
    transforms: dict[str, Any] = {
        "version": 1,
        "fixed": fixed_mod.value,
        "target": {"affine": grid.affine.tolist(), "shape": list(grid.shape)},
        "reference_matrix": ref_matrix.tolist() if reference is not None else None,
        "modalities": entries,
    }
    report("done", 1.0)
    return PreprocessedVisit(normalised, raw, mask, transforms, timings, notes, flags)


def _register_modality(
    moving: Volume, fixed: Volume, opts: PreprocessOptions, notes: list[str]
) -> tuple[np.ndarray, str, float]:
    """Rigid map moving -> fixed world; a quick check only when the headers already agree."""
    name = f"{moving.modality.value}->{fixed.modality.value}"
    if moving.same_grid(fixed):
        # Same grid (e.g. BraTS): verify with a fast coarse registration; if it barely moves
        # the image, keep the identity and avoid an interpolation.
        quick = register_rigid(
            moving,
            fixed,
            init="identity",
            working_mm=3.0,
            shrink_factors=(1,),
            smoothing_mm=(0.0,),
            iterations=40,
            sampling=0.1,
        )
        shift_mm, angle = transform_magnitude(quick.matrix, fixed)
        if shift_mm <= opts.verify_tolerance_mm:
            notes.append(f"{name}: headers agree, verified ({shift_mm:.2f} mm, {angle:.2f} deg)")
            return np.eye(4), "verified", quick.metric
        # The 3 mm check is noisy at the ~1 mm level (e.g. Brats18_TCIA10_637_1); decide on
        # the finer (4 mm -> 2 mm levels) registration before moving any voxel.
        full = register_rigid(moving, fixed, init="identity")
        shift_mm, angle = transform_magnitude(full.matrix, fixed)
        if shift_mm <= opts.verify_tolerance_mm:
            notes.append(f"{name}: headers agree, verified ({shift_mm:.2f} mm, {angle:.2f} deg)")
            return np.eye(4), "verified", full.metric
        notes.append(f"{name}: same grid but misaligned by {shift_mm:.1f} mm; registered")
        return full.matrix, "rigid", full.metric
    full = register_rigid(moving, fixed, init="identity")
    return full.matrix, "rigid", full.metric
