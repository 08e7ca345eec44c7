"""Fixtures for the preprocessing tests: a tiny NIfTI loader and cached real BraTS volumes.

The loader is deliberately local (nibabel only) so these tests do not depend on braintwin.io.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

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
