"""segment_volumes on synthetic volumes (labelled as such): methods, flags and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from braintwin.errors import ConfigurationError, InputError
from braintwin.segment import METHODS, dice, segment_volumes
from braintwin.types.labels import region_mask
from braintwin.types.volume import Modality, Volume


def synthetic_visit(rng: np.random.Generator, shape: tuple[int, int, int] = (64, 64, 48)):
    """A synthetic 'brain' ellipsoid with a FLAIR-bright lesion and a T1ce-enhancing ring."""
    g = np.indices(shape).astype(float)
    c = np.array(shape, float)[:, None, None, None] / 2
    r_brain = np.sqrt((((g - c) / (c - 4)) ** 2).sum(0))
    brain = r_brain < 1
    lesion_c = c + np.array([6, 4, 2])[:, None, None, None]
    d = np.sqrt(((g - lesion_c) ** 2).sum(0))
    wt, tc, core = d < 11, d < 6, d < 3.5
    base = lambda: rng.normal(100, 5, shape) * brain  # noqa: E731
    flair = base() + 60 * wt
    t1ce = base() + 80 * (tc & ~core) - 30 * core
    truth = np.zeros(shape, np.uint8)
    truth[wt] = 2
    truth[tc] = 4
    truth[core] = 1
    vols = {
        Modality.FLAIR: Volume(flair, np.eye(4), Modality.FLAIR),
        Modality.T1CE: Volume(t1ce, np.eye(4), Modality.T1CE),
        Modality.T1: Volume(base(), np.eye(4), Modality.T1),
        Modality.T2: Volume(base() + 40 * wt, np.eye(4), Modality.T2),
    }
    return vols, truth, brain


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_classical_finds_synthetic_lesion(rng: np.random.Generator, method: str) -> None:
    vols, truth, _ = synthetic_visit(rng)
    seg = segment_volumes(vols, method=method)
    labels = seg.labels.data
    assert seg.labels.modality is Modality.SEG and labels.shape == truth.shape
    assert set(np.unique(labels)) <= {0, 1, 2, 4}
    assert dice(region_mask(labels, "WT"), region_mask(truth, "WT")) > 0.8
    assert dice(region_mask(labels, "ET"), region_mask(truth, "ET")) > 0.6
    assert dice(region_mask(labels, "TC"), region_mask(truth, "TC")) > 0.6
    assert seg.flags == []


def test_classical_needs_flair(rng: np.random.Generator) -> None:
    vols, _, _ = synthetic_visit(rng)
    with pytest.raises(InputError, match="FLAIR"):
        segment_volumes({Modality.T1CE: vols[Modality.T1CE]}, method="kmeans")


def test_no_brain_is_flagged_not_crashed() -> None:
    zero = Volume(np.zeros((20, 20, 20), np.int16), np.eye(4), Modality.FLAIR)
    seg = segment_volumes({Modality.FLAIR: zero}, method="kmeans")
    assert not seg.labels.data.any()
    assert any(f.startswith("no brain") for f in seg.flags)


def test_healthy_brain_gives_flagged_empty_prediction(rng: np.random.Generator) -> None:
    _, _, brain = synthetic_visit(rng)
    flair = Volume(rng.normal(100, 5, brain.shape) * brain, np.eye(4), Modality.FLAIR)
    seg = segment_volumes({Modality.FLAIR: flair}, method="kmeans")
    assert not seg.labels.data.any()
    assert "empty prediction: no tumour voxel found" in seg.flags


def test_bad_inputs_raise_clear_errors(rng: np.random.Generator) -> None:
    vols, _, _ = synthetic_visit(rng)
    small = Volume(np.ones((10, 10, 10)), np.eye(4), Modality.T1)
    with pytest.raises(InputError, match="co-register"):
        segment_volumes({Modality.FLAIR: vols[Modality.FLAIR], Modality.T1: small})
    with pytest.raises(ConfigurationError, match="unknown segmentation method"):
        segment_volumes(vols, method="magic")
    with pytest.raises(InputError, match="MRI sequences only"):
        segment_volumes({Modality.SEG: vols[Modality.FLAIR]})
    with pytest.raises(InputError, match="brain mask shape"):
        segment_volumes(vols, method="kmeans", brain_mask=np.ones((3, 3, 3), bool))
    with pytest.raises(InputError, match="none of the requested"):
        segment_volumes({Modality.T1: vols[Modality.T1]}, modalities=("flair",))


def test_registry_is_explicit() -> None:
    assert set(METHODS) == {"unet", "kmeans", "gmm"}


def test_unet_plumbing_with_untrained_weights(rng: np.random.Generator, tmp_path: Path) -> None:
    """An untrained network only checks shapes, flags and the uncertainty map (not accuracy)."""
    import torch

    from braintwin.segment.network import build_network, save_model

    torch.manual_seed(0)
    w = save_model(build_network("segresnet"), tmp_path / "w.pt", "segresnet", {}, {"t": 1})
    vols, truth, brain = synthetic_visit(rng, (40, 40, 32))
    seg = segment_volumes(
        vols, weights=w, modalities=("flair", "t1ce"), uncertainty=True, brain_mask=brain
    )
    assert seg.labels.shape == truth.shape and seg.labels.same_grid(vols[Modality.FLAIR])
    assert set(np.unique(seg.labels.data)) <= {0, 1, 2, 4}
    assert not seg.labels.data[~brain].any()
    assert seg.flags[0].startswith("missing modalities: T1, T2")
    assert seg.uncertainty is not None
    u = seg.uncertainty.data
    assert u.dtype == np.float32 and u.min() >= 0 and u.max() <= 1
    assert seg.meta["modalities"] == ["t1ce", "flair"]


def test_missing_sequence_note_quotes_only_what_was_measured(tmp_path: Path) -> None:
    """The shipped record covers all four and FLAIR + T1ce; other sets and other weights are
    told to measure, not quoted a figure measured on something else."""
    import json

    from braintwin.segment.api import _accuracy_note
    from braintwin.segment.network import DEFAULT_WEIGHTS

    cv = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())["cross_validation"]
    full, two = cv["unet"]["dice"]["WT"], cv["unet_flair_t1ce"]["dice"]["WT"]
    pair = _accuracy_note("unet", {Modality.FLAIR, Modality.T1CE}, None)
    assert f"WT Dice {two:.2f} with FLAIR+T1ce only vs {full:.2f} with all four" in pair
    t1 = _accuracy_note("unet", {Modality.T1}, None)
    assert "this set (t1) was not cross-validated" in t1
    assert "--modalities t1`" in t1
    other = _accuracy_note("unet", {Modality.FLAIR, Modality.T1CE}, tmp_path / "w.pt")
    assert "Dice" not in other and "--modalities t1ce,flair`" in other
    assert "Dice" not in _accuracy_note("kmeans", {Modality.FLAIR}, None)


def test_without_t1ce_enhancing_is_reported_as_core(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Known answer: a method that returns the synthetic truth (with ET) must lose ET, and
    only ET, when the visit has no T1ce; with T1ce nothing changes."""
    vols, truth, _ = synthetic_visit(rng)

    def truth_method(*_args: object) -> tuple[np.ndarray, None, list[str]]:
        return truth.copy(), None, []

    monkeypatch.setitem(METHODS, "truth", truth_method)
    seg = segment_volumes(vols, method="truth", modalities=("flair", "t1", "t2"))
    labels = seg.labels.data
    assert not np.any(labels == 4)
    assert np.array_equal(region_mask(labels, "TC"), region_mask(truth, "TC"))
    assert np.array_equal(region_mask(labels, "WT"), region_mask(truth, "WT"))
    et_ml = np.count_nonzero(truth == 4) / 1000.0
    assert any(
        f.startswith("no T1ce: enhancing tumour (ET) is not observable")
        and f"{et_ml:.1f} mL predicted as enhancing" in f
        for f in seg.flags
    )
    assert seg.meta["observable_regions"] == ["WT", "TC"] == seg.observable_regions
    assert seg.labels.meta["observable_regions"] == ["WT", "TC"]
    full = segment_volumes(vols, method="truth")
    assert np.array_equal(full.labels.data, truth)
    assert full.meta["observable_regions"] == ["WT", "TC", "ET"]
    assert not any("not observable" in f for f in full.flags)


def test_constant_background_is_not_taken_for_brain(rng: np.random.Generator) -> None:
    """Without a brain mask, a z-scored export (background -0.6 instead of 0) must give the
    same mask and segmentation as the zero-background images (synthetic, k-means)."""
    vols, truth, brain = synthetic_visit(rng)
    exported = {}
    for m, v in vols.items():
        d = v.data.astype(np.float32)
        z = np.full(d.shape, -0.6, np.float32)
        z[brain] = (d[brain] - d[brain].mean()) / d[brain].std()
        exported[m] = v.with_data(z)
    a = segment_volumes(vols, method="kmeans")
    b = segment_volumes(exported, method="kmeans")
    assert any("constant non-zero background (-0.6" in f for f in b.flags)
    wt = region_mask(truth, "WT")
    assert dice(region_mask(b.labels.data, "WT"), wt) > 0.8
    assert dice(region_mask(b.labels.data, "WT"), region_mask(a.labels.data, "WT")) > 0.95


@pytest.mark.slow
def test_real_zscored_export_segments_like_the_original() -> None:
    """The shipped real BraTS case with FLAIR + T1ce, as given to ``eval segment`` (no brain
    mask): a z-scored export whose background is -0.6 must segment like the original."""
    import nibabel as nib

    demo = Path(__file__).resolve().parents[2] / "src/braintwin/data/demo/Brats18_2013_3_1"
    if not demo.is_dir():
        pytest.skip("shipped demo case missing")
    original, exported = {}, {}
    for m in (Modality.FLAIR, Modality.T1CE):
        img: Any = nib.load(str(demo / f"{demo.name}_{m.value}.nii.gz"))
        d = np.asarray(img.dataobj, np.float32)
        inside = d != 0
        z = np.full(d.shape, -0.6, np.float32)
        z[inside] = (d[inside] - d[inside].mean()) / d[inside].std()
        original[m] = Volume(d, img.affine, m)
        exported[m] = Volume(z, img.affine, m)
    a = segment_volumes(original)
    b = segment_volumes(exported)
    wt_a, wt_b = region_mask(a.labels.data, "WT"), region_mask(b.labels.data, "WT")
    assert wt_a.sum() > 10_000
    assert dice(wt_a, wt_b) >= 0.9
    assert any("constant non-zero background" in f for f in b.flags)
