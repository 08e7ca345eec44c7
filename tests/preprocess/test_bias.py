"""N4 bias correction on a real BraTS slab with a synthetic multiplicative bias."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from braintwin.errors import InputError
from braintwin.preprocess import brain_mask, n4_bias_correct, reorient_ras
from braintwin.types import Modality, Volume


def _cv(values: np.ndarray) -> float:
    return float(values.std() / values.mean())


def _slab(brats_dir: Path, case: str) -> Volume:
    img: Any = nib.load(str(brats_dir / case / f"{case}_t1.nii.gz"))
    t1 = reorient_ras(Volume(np.asarray(img.dataobj), img.affine, Modality.T1))
    return Volume(t1.data[:, :, 60:110].astype(np.float32), t1.affine, Modality.T1)


@pytest.fixture(scope="module")
def slab(brats_dir: Path) -> Volume:
    return _slab(brats_dir, "Brats18_2013_11_1")


# Three cases from three BraTS sources (2013 challenge, CBICA, TCIA): not tuned to one scan.
@pytest.mark.parametrize(
    "case", ["Brats18_2013_11_1", "Brats18_CBICA_ABM_1", "Brats18_TCIA02_135_1"]
)
def test_n4_reduces_variation_in_white_matter(brats_dir: Path, case: str) -> None:
    slab = _slab(brats_dir, case)
    mask = brain_mask(slab, skull_strip_mode="never")
    brain = slab.data[mask.data]
    # White-matter-like tissue: the bright band of the T1 (WM is brightest in T1).
    lo, hi = np.percentile(brain, [75, 97])
    wm = mask.data & (slab.data >= lo) & (slab.data <= hi)
    # Synthetic smooth multiplicative bias (synthetic, labelled as such): a linear ramp
    # plus a quadratic bump, +-30 % across the brain, like a receive-coil profile.
    x, y, z = np.meshgrid(*(np.linspace(-1, 1, n) for n in slab.shape), indexing="ij")
    bias = np.exp(0.3 * x - 0.2 * y + 0.15 * (1 - x**2 - y**2) + 0.1 * z).astype(np.float32)
    biased = slab.with_data(slab.data * bias)
    cv_clean = _cv(slab.data[wm])
    cv_biased = _cv(biased.data[wm])
    assert cv_biased > 1.3 * cv_clean  # the bias really hurts

    corrected, field = n4_bias_correct(biased, mask, return_field=True)
    assert corrected.same_grid(slab) and corrected.data.dtype == np.float32
    assert field.data.min() > 0
    assert _cv(corrected.data[wm]) < 0.85 * cv_biased


def test_n4_refuses_empty_mask(slab: Volume) -> None:
    empty = slab.with_data(np.zeros(slab.shape, bool), Modality.MASK)
    with pytest.raises(InputError, match="too few"):
        n4_bias_correct(slab, empty)
    with pytest.raises(InputError, match="shrink"):
        n4_bias_correct(slab, shrink=0)
