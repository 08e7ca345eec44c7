"""Shared fixtures: a seeded rng, tiny known-answer volumes and real data.

Real data come from two places:

* ``../shared/data`` (or ``$BRAINTWIN_SHARED_DATA``): the larger development set. Tests that need
  it as a whole (``shared_data``, ``brats_dir``: many cases, full-size progression scans, the
  Kaggle slices) skip when it is absent on a developer machine, and fail in CI (``CI=true``),
  where it is promised beside the checkout.
* Small real data shipped in the repository, so that a fresh clone still runs the real-data
  paths: the demo BraTS case ``src/braintwin/data/demo/Brats18_2013_3_1`` and a cropped real
  follow-up pair in ``tests/data/progression`` (provenance in ``tests/data/PROVENANCE.md``).
  ``brats_case`` and ``progression_dir`` use the shared data when present and fall back to
  these otherwise; they never skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
#: Real data shipped with the repository (fresh-clone fallbacks; see the module docstring).
SHIPPED_BRATS_CASE = REPO / "src" / "braintwin" / "data" / "demo" / "Brats18_2013_3_1"
SHIPPED_PROGRESSION = REPO / "tests" / "data" / "progression"
SHARED_BRATS_CASE = "Brats18_2013_11_1"


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


@pytest.fixture
def shared_cropped_case(tmp_path: Path, shared_brats_case: Path) -> Callable[..., Path]:
    """Like ``cropped_case``, but always the shared case (skips without ../shared/data)."""

    def make(crop: int = 40, name: str = "Brats18_crop_1") -> Path:
        return crop_case(shared_brats_case, tmp_path / name, crop)

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
def brats_case() -> Path:
    """One real BraTS 2018 case folder (4 modalities + expert labels).

    The shared ``Brats18_2013_11_1`` when ../shared/data is present, else the shipped demo case
    ``Brats18_2013_3_1`` (also a real BraTS 2018 training case, same layout and grid).
    """
    case = shared_data_dir() / "brats2018" / SHARED_BRATS_CASE
    return case if case.is_dir() else SHIPPED_BRATS_CASE


@pytest.fixture(scope="session")
def shared_brats_case(brats_dir: Path) -> Path:
    """The shared ``Brats18_2013_11_1`` itself, for tests whose assertions are about that case
    (skips like ``shared_data`` when absent)."""
    return brats_dir / SHARED_BRATS_CASE


@pytest.fixture(scope="session")
def progression_dir() -> Path:
    """Real follow-up pairs in the progression layout: the six shared pairs when present,
    else the one cropped real pair shipped in tests/data/progression."""
    shared = shared_data_dir() / "progression"
    return shared if (shared / "supplementary.csv").is_file() else SHIPPED_PROGRESSION


@pytest.fixture(scope="session")
def shipped_progression() -> Path:
    """The cropped real pair shipped in tests/data/progression (same on every machine)."""
    return SHIPPED_PROGRESSION


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, isolated $BRAINTWIN_HOME."""
    h = tmp_path / "bt-home"
    monkeypatch.setenv("BRAINTWIN_HOME", str(h))
    return h
