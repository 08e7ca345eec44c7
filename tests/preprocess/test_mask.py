"""Brain masks: skull-stripped detection on real BraTS, skull stripping of a synthetic head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from braintwin.errors import InputError
from braintwin.preprocess import brain_mask, is_skull_stripped, skull_strip
from braintwin.types import Modality, Volume


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def test_brats_is_recognised_as_skull_stripped(brats_volumes: dict[Modality, Volume]) -> None:
    assert all(is_skull_stripped(v) for v in brats_volumes.values())


@pytest.mark.parametrize(
    ("method", "recorded"), [("atlas", "mni152_affine"), ("deepbet", "deepbet")]
)
def test_skull_strip_synthetic_head(
    synthetic_raw_t1: tuple[Volume, np.ndarray], method: str, recorded: str
) -> None:
    head, truth = synthetic_raw_t1
    assert not is_skull_stripped(head)
    # Auto mode notices the raw scan and strips the skull.
    mask = brain_mask({Modality.T1: head}, method=method)
    assert mask.modality is Modality.MASK and mask.data.dtype == np.bool_
    assert mask.meta["brain_mask"] == recorded
    assert mask.meta["brain_mask_source"] == "t1"
    assert "brain_mask_fallback" not in mask.meta  # deepbet worked; the atlas was asked for
    assert dice(mask.data, truth) > 0.93
    # Without stripping the "mask" would be the whole noisy field of view.
    assert dice(brain_mask(head, skull_strip_mode="never").data, truth) < 0.7


@pytest.mark.slow
@pytest.mark.parametrize("pair", ["01", "03", "05", "06", "09", "10"])
def test_skull_strip_real_raw_post_contrast_t1(shared_data: Path, pair: str) -> None:
    """Real raw scans with skull (TCIA Brain-Tumor-Progression); no expert brain masks exist,
    so check what must hold: brain-sized, most of the head inside, scalp fat outside, the
    tumour inside. deepbet runs here on the native 1 x 1 x 5 mm grid."""
    import nibabel as nib

    img: Any = nib.load(str(shared_data / "progression" / pair / "Pre_Scan_T1.nii.gz"))
    data = np.asarray(img.dataobj, dtype=np.float32)
    raw_header = Volume(data, img.affine, Modality.T1CE)
    assert not is_skull_stripped(raw_header)
    # The header says 1 mm slices; they are ~5 mm thick (DATA.md): use the true geometry.
    affine = img.affine.copy()
    affine[2, 2] *= 5.0
    vol = Volume(data, affine, Modality.T1CE)
    result = brain_mask(vol)
    assert result.meta["brain_mask"] == "deepbet"
    mask = result.data
    litres = np.count_nonzero(mask) * vol.voxel_volume_mm3 / 1e6
    assert 1.0 < litres < 2.3
    level = np.median(data[mask])
    bright = data > 3 * level  # scalp fat and vessels in post-contrast T1
    head = data > 0.3 * level
    assert np.count_nonzero(bright & mask) / np.count_nonzero(bright) < 0.15
    assert 0.4 < np.count_nonzero(head & mask) / np.count_nonzero(head) < 0.85
    # The expert's enhancing-tumour mask lies inside the brain mask (the network does not
    # cut the tumour away; 96-100 % measured on these pairs).
    tumour = np.asarray(nib.load(str(img.get_filename()).replace("Scan_T1", "Mask")).dataobj) > 0
    assert np.count_nonzero(tumour & mask) >= 0.95 * np.count_nonzero(tumour)


def test_skull_stripped_mask_is_union_of_supports() -> None:
    a = np.zeros((30, 30, 30), np.float32)
    a[5:20, 5:20, 5:20] = 1.0
    a[10:13, 10:13, 10:13] = 0.0  # an interior hole (e.g. dark CSF at exactly 0)
    b = np.zeros_like(a)
    b[15:25, 5:20, 5:20] = 2.0
    va, vb = Volume(a, np.eye(4), Modality.T1), Volume(b, np.eye(4), Modality.T2)
    m = brain_mask([va, vb], skull_strip_mode="never").data
    assert np.count_nonzero(m) == 20 * 15 * 15  # union, hole filled
    with pytest.raises(InputError, match="same grid"):
        brain_mask([va, Volume(b, np.diag([2.0, 1, 1, 1]), Modality.T2)])


def test_empty_images_give_clear_errors() -> None:
    z = Volume(np.zeros((10, 10, 10), np.float32), np.eye(4), Modality.T1)
    assert not is_skull_stripped(z)
    with pytest.raises(InputError, match="empty"):
        brain_mask(z, skull_strip_mode="never")
    with pytest.raises(InputError, match="empty"):
        skull_strip(z)
    with pytest.raises(InputError, match="mode"):
        brain_mask(z, skull_strip_mode="sometimes")
