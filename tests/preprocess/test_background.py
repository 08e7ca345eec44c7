"""Constant non-zero backgrounds (already normalised exports) are recognised as background."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from braintwin.preprocess import PreprocessOptions, preprocess_visit
from braintwin.preprocess.background import detect_background, zero_background
from braintwin.types import Modality, Volume

DEMO = (
    Path(__file__).resolve().parents[2] / "src" / "braintwin" / "data" / "demo" / "Brats18_2013_3_1"
)


def zscored_export(vol: Volume, background: float) -> Volume:
    """What another tool's z-scored export looks like: z-score inside the brain (non-zero
    support of the BraTS image), a constant ``background`` everywhere else."""
    inside = vol.data != 0
    vals = vol.data[inside].astype(np.float64)
    out = np.full(vol.shape, background, np.float32)
    out[inside] = ((vals - vals.mean()) / vals.std()).astype(np.float32)
    return vol.with_data(out)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def test_detects_constant_border_region_only(rng: np.random.Generator) -> None:
    data = np.full((40, 40, 30), -0.6, np.float32)
    data[8:32, 8:32, 5:25] = rng.normal(0, 1, (24, 24, 20))
    found = detect_background(data)
    assert found is not None
    bg, region = found
    assert bg.value == pytest.approx(-0.6)
    assert np.array_equal(region, data == np.float32(-0.6))
    # Acquisition noise never repeats one exact value: a raw scan has no constant background.
    noisy = np.abs(rng.normal(0, 3, data.shape)).astype(np.float32)
    noisy[8:32, 8:32, 5:25] += 100
    assert detect_background(noisy) is None
    # A value equal to the background *inside* the head (not connected to the border) stays.
    data[20, 20, 15] = np.float32(-0.6)
    assert not detect_background(data)[1][20, 20, 15]  # type: ignore[index]


def test_zero_background_shifts_foreground_positive(rng: np.random.Generator) -> None:
    data = np.full((30, 30, 30), -0.6, np.float32)
    data[5:25, 5:25, 5:25] = rng.normal(0, 1, (20, 20, 20))
    out, bg = zero_background(Volume(data, np.eye(4), Modality.FLAIR))
    assert bg is not None and bg.value == pytest.approx(-0.6)
    assert np.all(out.data[data == np.float32(-0.6)] == 0)
    inner = out.data[5:25, 5:25, 5:25]
    assert inner.min() > 0
    # An affine shift only: the foreground keeps its contrast exactly.
    assert np.corrcoef(inner.ravel(), data[5:25, 5:25, 5:25].ravel())[0, 1] == pytest.approx(1.0)
    assert out.meta["background_value"] == pytest.approx(-0.6)
    # Zero backgrounds (skull-stripped input) are left alone.
    zero = Volume(np.where(data == np.float32(-0.6), 0, data), np.eye(4), Modality.FLAIR)
    same, none = zero_background(zero)
    assert same is zero and none is None


def _demo(modalities: tuple[Modality, ...]) -> dict[Modality, Volume]:
    import nibabel as nib

    if not DEMO.is_dir():
        pytest.skip("shipped demo case missing")
    out = {}
    for m in modalities:
        img: Any = nib.load(str(DEMO / f"{DEMO.name}_{m.value}.nii.gz"))
        out[m] = Volume(np.asarray(img.dataobj, np.float32), img.affine, m)
    return out


@pytest.mark.slow
def test_zscored_export_with_constant_background_segments_like_the_original() -> None:
    """The shipped real BraTS case (FLAIR + T1ce), original vs. a z-scored export with a
    background of -0.6: same brain mask, same segmentation through preprocess + segment."""
    from braintwin.segment import segment_volumes
    from braintwin.types.labels import region_mask

    original = _demo((Modality.FLAIR, Modality.T1CE))
    exported = {m: zscored_export(v, -0.6) for m, v in original.items()}
    opts = PreprocessOptions()
    a = preprocess_visit(original, options=opts)
    b = preprocess_visit(exported, options=opts)
    assert a.brain_mask.meta["brain_mask"] == "nonzero_support"
    assert b.brain_mask.meta["brain_mask"] == "nonzero_support"  # recognised, not stripped
    assert a.flags == [] and any("constant background -0.6" in f for f in b.flags)
    assert dice(a.brain_mask.data, b.brain_mask.data) > 0.99
    sa = segment_volumes(a.volumes, brain_mask=a.brain_mask)
    sb = segment_volumes(b.volumes, brain_mask=b.brain_mask)
    wt_a, wt_b = region_mask(sa.labels.data, "WT"), region_mask(sb.labels.data, "WT")
    assert wt_a.sum() > 10_000  # the demo tumour is found at all
    assert dice(wt_a, wt_b) >= 0.9
