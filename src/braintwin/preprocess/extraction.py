"""Brain extraction of raw T1-weighted scans with deepbet (Fisch et al. 2024).

deepbet (MIT licence) is a two-stage 3D U-Net: a coarse network at 128³ finds the brain's
bounding box, a second one segments the brain inside it at 256³ (Fisch L. et al., "deepbet:
Fast brain extraction of T1-weighted MRI using Convolutional Neural Networks", Computers in
Biology and Medicine 179, 2024). Its trained weights ship inside its wheel, so nothing is
downloaded. It is trained on T1-weighted images only, so it is run on T1 (else T1ce);
visits without a T1-weighted image fall back to the atlas mask (:mod:`.mask`).

The networks are called in-process on the array (no temporary files), on the CPU, with the
caller's thread budget; the package's own steps (bounding box, largest component, hole
filling) are reused through :class:`deepbet.BrainExtraction`. deepbet expects the array in
(closest) RAS axis order, as nibabel's ``as_closest_canonical`` gives; other orientations are
permuted to RAS and the mask permuted back (exact, no interpolation).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from braintwin.errors import InputError
from braintwin.types import Modality, Volume

__all__ = ["DeepbetUnavailable", "deepbet_available", "deepbet_mask"]

Progress = Callable[[str, float], None]

#: Probability threshold of deepbet's brain class (its default).
THRESHOLD = 0.5


class DeepbetUnavailable(RuntimeError):
    """deepbet (or torch) is not installed or its weights cannot be loaded."""


@lru_cache(maxsize=1)
def _extractor() -> Any:
    """deepbet's two networks, loaded once per process onto the CPU."""
    try:
        from deepbet.bet import BrainExtraction
    except ImportError as err:  # an optional heavy dependency: say so, the caller falls back
        raise DeepbetUnavailable(f"deepbet is not installed ({err})") from err
    try:
        with warnings.catch_warnings():
            # deepbet ships TorchScript files; newer torch marks torch.jit.load deprecated.
            warnings.simplefilter("ignore", DeprecationWarning)
            return BrainExtraction(no_gpu=True)
    except (OSError, RuntimeError, ValueError) as err:
        raise DeepbetUnavailable(f"deepbet's weights could not be loaded ({err})") from err


def deepbet_available() -> bool:
    """True when deepbet and its weights load in this environment."""
    try:
        _extractor()
    except DeepbetUnavailable:
        return False
    return True


def deepbet_mask(vol: Volume, *, threads: int = 2, progress: Progress | None = None) -> Volume:
    """Brain mask of a raw T1-weighted scan by deepbet, on ``vol``'s grid.

    Args:
        vol: a T1 or T1ce image of the head (any spacing; about 1 mm is what deepbet saw in
            training, the preprocessing grid).
        threads: torch CPU threads for the call (restored afterwards).
        progress: callback (message, fraction 0..1).

    Returns:
        Boolean MASK volume (largest component, holes filled), meta ``brain_mask="deepbet"``.

    Raises:
        DeepbetUnavailable: deepbet or its weights are missing.
        InputError: the image is (nearly) empty, or deepbet found no brain in it.
    """
    import torch
    from nibabel.orientations import apply_orientation, io_orientation, ornt_transform

    if np.count_nonzero(vol.data > 0) < 1000:
        raise InputError(f"the {vol.modality.value} image is (nearly) empty; no brain to find")
    report = progress or (lambda _m, _f: None)
    report("loading the brain-extraction model (deepbet)", 0.0)
    bet = _extractor()
    ornt = io_orientation(vol.affine)
    ras = np.ascontiguousarray(apply_orientation(vol.data.astype(np.float32), ornt))
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        report("brain extraction (deepbet)", 0.1)
        prob = bet.run_model(ras)
        mask = prob > THRESHOLD
        if not mask.any():
            raise InputError(
                f"deepbet found no brain in the {vol.modality.value} image",
                "check the image (a head MRI?) or use the atlas mask (brain_extraction='atlas')",
            )
        report("brain extraction: largest component and holes", 0.9)
        mask = bet.postprocess(mask)
    except AssertionError as err:  # deepbet signals "no foreground for a bounding box" so
        raise InputError(
            f"deepbet found no brain in the {vol.modality.value} image ({err})",
            "check the image (a head MRI?) or use the atlas mask (brain_extraction='atlas')",
        ) from err
    finally:
        torch.set_num_threads(previous)
    back = ornt_transform([[0, 1], [1, 1], [2, 1]], ornt)
    native = np.ascontiguousarray(apply_orientation(mask.astype(bool), back))
    report("brain extraction done", 1.0)
    return Volume(native, vol.affine.copy(), Modality.MASK, {"brain_mask": "deepbet"})
