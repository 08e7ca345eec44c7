"""Shared fixtures: a seeded rng, tiny known-answer volumes and the real data in ../shared/data.

Real-data tests skip when ../shared/data is absent on a developer machine, but fail in CI
(``CI=true``), where the data is always beside the checkout.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def crop_case(src: Path, dst: Path, crop: int = 40) -> Path:
    """A real BraTS case cropped around its tumour (keeps tests fast), same layout."""
    dst.mkdir(parents=True, exist_ok=True)
    seg = nib.load(str(next(src.glob("*_seg.nii.gz"))))
    idx = np.argwhere(np.asarray(seg.dataobj) > 0)
    c = idx.mean(axis=0).astype(int)
    sl = tuple(slice(max(0, x - crop), x + crop) for x in c)
    for f in src.glob("*.nii.gz"):
        img = nib.load(str(f))
        data = np.asarray(img.dataobj)[sl]
        aff = img.affine.copy()
        aff[:3, 3] = img.affine[:3, :3] @ np.array([s.start for s in sl]) + img.affine[:3, 3]
        nib.save(nib.Nifti1Image(data, aff), str(dst / f.name))
    return dst


@pytest.fixture
def cropped_case(tmp_path: Path, brats_case: Path) -> Callable[..., Path]:
    """Factory: ``cropped_case(crop=40)`` -> a real BraTS case cropped around its tumour."""

    def make(crop: int = 40, name: str = "Brats18_crop_1") -> Path:
        return crop_case(brats_case, tmp_path / name, crop)

    return make


def shared_data_dir() -> Path:
    return Path(os.environ.get("BRAINTWIN_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if not d.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"real data missing in CI: {d}")
        pytest.skip(f"real data not available at {d}")
    return d


@pytest.fixture(scope="session")
def brats_dir(shared_data: Path) -> Path:
    return shared_data / "brats2018"


@pytest.fixture(scope="session")
def brats_case(brats_dir: Path) -> Path:
    """One real BraTS 2018 case folder (4 modalities + expert labels)."""
    return brats_dir / "Brats18_2013_11_1"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, isolated $BRAINTWIN_HOME."""
    h = tmp_path / "bt-home"
    monkeypatch.setenv("BRAINTWIN_HOME", str(h))
    return h
