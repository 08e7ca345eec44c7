"""Fixtures for the preprocessing tests: a tiny NIfTI loader and cached real BraTS volumes.

The loader is deliberately local (nibabel only) so these tests do not depend on braintwin.io.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import ndimage as ndi

from braintwin.types import Modality, Volume


def load(path: Path, modality: Modality) -> Volume:
    import nibabel as nib

    img: Any = nib.load(str(path))
    return Volume(np.asarray(img.dataobj), img.affine, modality)


@pytest.fixture(scope="session")
def brats_volumes(brats_case: Path) -> dict[Modality, Volume]:
    """The four MRI volumes of one real BraTS case, as stored (LPS-like header)."""
    return {m: load(brats_case / f"{brats_case.name}_{m.value}.nii.gz", m) for m in Modality.mri()}


@pytest.fixture(scope="session")
def loader() -> Callable[[Path, Modality], Volume]:
    return load


@pytest.fixture(autouse=True, scope="session")
def _two_threads() -> None:
    """The project's benchmark target is 2 cores; keep ITK at 2 threads in tests too."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)


def synthetic_head(brain: Volume, rng: np.random.Generator) -> Volume:
    """A real skull-stripped brain wrapped in synthetic CSF, skull and scalp shells, in noise.

    Synthetic (labelled as such): 2 mm dark CSF, 5 mm near-black bone, 5 mm bright scalp, and
    Rician background noise at 3 % of the brain median, the look of a raw T1.
    """
    d = brain.data.astype(np.float32)
    inside = d > 0
    med = float(np.median(d[inside]))
    dist = ndi.distance_transform_edt(~inside)
    head = d.copy()
    head[(dist > 0) & (dist <= 2)] = 0.25 * med
    head[(dist > 2) & (dist <= 7)] = 0.05 * med
    head[(dist > 7) & (dist <= 12)] = 1.1 * med
    sigma = 0.03 * med
    noise = np.hypot(rng.normal(0, sigma, d.shape), rng.normal(0, sigma, d.shape))
    return brain.with_data((head + noise).astype(np.float32))


@pytest.fixture
def synthetic_raw_t1(
    brats_volumes: dict[Modality, Volume], rng: np.random.Generator
) -> tuple[Volume, np.ndarray]:
    """(raw-looking head, true brain mask): the real BraTS T1 cropped to the brain + 20 mm
    (room for the synthetic shells; keeps the tests fast) inside :func:`synthetic_head`."""
    full = brats_volumes[Modality.T1]
    idx = np.argwhere(full.data > 0)
    lo = np.maximum(idx.min(axis=0) - 20, 0)
    hi = idx.max(axis=0) + 21
    t1 = Volume(full.data[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]], full.affine, Modality.T1)
    return synthetic_head(t1, rng), np.asarray(ndi.binary_fill_holes(t1.data > 0))
