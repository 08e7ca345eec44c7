"""Brain extraction of raw scans: deepbet on T1w, the atlas only as a flagged fallback."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from braintwin.errors import InputError
from braintwin.preprocess import PreprocessOptions, brain_mask, preprocess_visit, reorient_ras
from braintwin.preprocess import extraction as deepbet_module
from braintwin.types import Modality, Volume


def _never(*_args: object, **_kwargs: object) -> Volume:
    raise AssertionError("deepbet must not run here")


def test_skull_stripped_input_is_not_restripped(
    brats_volumes: dict[Modality, Volume], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deepbet_module, "deepbet_mask", _never)
    mask = brain_mask(brats_volumes)
    assert mask.meta == {"brain_mask": "nonzero_support"}


def test_atlas_fallback_is_said(
    synthetic_raw_t1: tuple[Volume, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    head, _ = synthetic_raw_t1
    # FLAIR/T2-only visit: deepbet is trained on T1w, so it is not tried.
    monkeypatch.setattr(deepbet_module, "deepbet_mask", _never)
    flair = Volume(head.data, head.affine, Modality.FLAIR)
    pv = preprocess_visit({Modality.FLAIR: flair}, options=PreprocessOptions(n4=False))
    assert pv.brain_mask.meta["brain_mask"] == "mni152_affine"
    assert "no T1-weighted image" in pv.brain_mask.meta["brain_mask_fallback"]
    # ... and the visit says so, for the twin to print.
    assert len(pv.flags) == 1
    assert pv.flags[0].startswith("brain mask from the MNI152 atlas fit (fallback: no T1-w")

    # deepbet missing (or failing) on a T1: the atlas, with the reason.
    def missing(*_args: object, **_kwargs: object) -> Volume:
        raise deepbet_module.DeepbetUnavailable("deepbet is not installed (test)")

    monkeypatch.setattr(deepbet_module, "deepbet_mask", missing)
    mask = brain_mask({Modality.T1: head})
    assert mask.meta["brain_mask_fallback"] == "deepbet is not installed (test)"
    with pytest.raises(InputError, match="brain extraction method"):
        brain_mask({Modality.T1: head}, method="bet2")


def _mprage(shared_data: Path) -> dict[Modality, Volume]:
    from braintwin.io import read_visit_images

    folder = shared_data / "dicom" / "siemens_skyra_mprage"
    if not folder.is_dir():
        pytest.skip("raw MPRAGE not available")
    return dict(read_visit_images(folder).volumes)


def _head(raw: np.ndarray) -> np.ndarray:
    """The whole head (scalp included): above 10 % of the bright end, closed, holes filled
    in 3D and in every slice of every axis, largest component."""
    head = ndi.binary_closing(raw > 0.1 * np.percentile(raw[raw > 0], 99), iterations=3)
    head = ndi.binary_fill_holes(head)
    for ax in range(3):
        for k in range(head.shape[ax]):
            sl = [slice(None)] * 3
            sl[ax] = slice(k, k + 1)
            head[tuple(sl)] = ndi.binary_fill_holes(head[tuple(sl)])
    lab, _ = ndi.label(head)
    return np.asarray(lab == np.argmax(np.bincount(lab.ravel())[1:]) + 1)


@pytest.mark.slow
def test_raw_mprage_brain_excludes_scalp_and_has_no_tumour(shared_data: Path) -> None:
    """Real raw MPRAGE of a 3-year-old (no tumour): deepbet's mask is brain-sized, stays out
    of the outer 3 mm of the head, and the segmenter finds no tumour inside it."""
    from braintwin.segment import segment_volumes

    vols = _mprage(shared_data)
    steps: list[str] = []
    t0 = time.perf_counter()
    pv = preprocess_visit(vols, progress=lambda m, _f: steps.append(m))
    seconds = time.perf_counter() - t0
    mask = pv.brain_mask
    assert mask.meta["brain_mask"] == "deepbet" and mask.meta["brain_mask_source"] == "t1"
    assert pv.flags == []
    assert "brain extraction (deepbet)" in steps and "N4 bias correction (t1)" in steps
    litres = np.count_nonzero(mask.data) * mask.voxel_volume_mm3 / 1e6
    assert 1.0 < litres < 1.6  # intracranial volume of a young child
    head = _head(pv.raw[Modality.T1].data)
    depth = ndi.distance_transform_edt(head)
    assert np.count_nonzero(mask.data & (depth <= 3.0)) == 0  # no scalp
    assert np.count_nonzero(mask.data & ~head) < 0.001 * np.count_nonzero(mask.data)
    seg = segment_volumes(pv.volumes, brain_mask=mask)
    assert int(np.count_nonzero(seg.labels.data)) == 0, seg.flags
    assert seg.meta["observable_regions"] == ["WT", "TC"]
    assert seconds < 600  # generous: 2 shared cores; ~25 s measured unloaded-ish


@pytest.mark.slow
def test_deepbet_on_a_non_ras_grid(shared_data: Path) -> None:
    """The MPRAGE as stored (PIR, 0.86 x 0.86 x 0.9 mm): deepbet runs in RAS axis order and
    the mask comes back on the stored grid."""
    t1 = _mprage(shared_data)[Modality.T1]
    assert t1.orientation != "RAS"
    mask = deepbet_module.deepbet_mask(t1)
    assert mask.same_grid(t1) and mask.meta["brain_mask"] == "deepbet"
    litres = np.count_nonzero(mask.data) * mask.voxel_volume_mm3 / 1e6
    assert 1.0 < litres < 1.6
    # The same voxels permuted to RAS (exact) give the same mask, permuted the same way.
    ras = reorient_ras(t1)
    assert np.array_equal(reorient_ras(mask).data, deepbet_module.deepbet_mask(ras).data)


def test_deepbet_runs_on_t1_unless_it_covers_clearly_less_than_t1ce() -> None:
    from braintwin.preprocess.mask import _deepbet_source

    full = np.ones((20, 20, 20), np.float32)
    slab = full.copy()
    slab[:, :, 12:] = 0  # a T1 slab resampled onto the T1ce grid: zero outside its view
    vol = {m: Volume(full, np.eye(4), m) for m in Modality.mri()}
    assert _deepbet_source(vol) is Modality.T1
    vol[Modality.T1] = Volume(slab, np.eye(4), Modality.T1)
    assert _deepbet_source(vol) is Modality.T1CE
    assert _deepbet_source({Modality.T1CE: vol[Modality.T1CE]}) is Modality.T1CE
    assert _deepbet_source({Modality.FLAIR: vol[Modality.FLAIR]}) is None
