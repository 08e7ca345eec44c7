"""Observation model and its inverse (segmentation -> density)."""

from __future__ import annotations

import numpy as np
import pytest

from braintwin.errors import InputError, ModelError
from braintwin.growth import (
    GrowthParameters,
    ObservationThresholds,
    density_from_segmentation,
    observe,
    to_segmentation,
)
from braintwin.types import Modality, Volume


def _seg() -> Volume:
    """A synthetic BraTS-like lesion: enhancing core r<=4, edema shell r<=9 (1 mm voxels)."""
    idx = np.indices((40, 40, 40)) - 20
    r = np.sqrt((idx**2).sum(axis=0))
    seg = np.zeros((40, 40, 40), np.uint8)
    seg[r <= 9] = 2
    seg[r <= 4] = 4
    seg[r <= 2] = 1
    return Volume(seg, np.eye(4), Modality.SEG)


def test_observe_thresholds_nest() -> None:
    u = np.linspace(0, 1, 1000, dtype=np.float32).reshape(10, 10, 10)
    m = observe(Volume(u, np.eye(4), Modality.DENSITY), ObservationThresholds(0.6, 0.2))
    enh, fl = m["enhancing"].data.astype(bool), m["flair"].data.astype(bool)
    assert enh.sum() == (u >= 0.6).sum() and fl.sum() == (u >= 0.2).sum()
    assert np.all(fl[enh])  # enhancing inside FLAIR


def test_density_from_segmentation_round_trips_through_observe() -> None:
    seg = _seg()
    u = density_from_segmentation(seg)
    assert u.modality is Modality.DENSITY and u.data.dtype == np.float32
    assert u.data.min() >= 0 and u.data.max() <= 1
    back = to_segmentation(u)
    tc = np.isin(seg.data, (1, 4))
    wt = seg.data > 0
    np.testing.assert_array_equal(back.data >= 4, tc)  # visible core = labelled core
    np.testing.assert_array_equal(back.data > 0, wt)  # visible extent = labelled extent
    # Invisible infiltration beyond the FLAIR edge, decaying with distance.
    assert 0 < u.data[20, 20, 31] < 0.25 and u.data[20, 20, 31] > u.data[20, 20, 34]
    # A compact tumour (sqrt(D/rho) = 1 mm) has a core near carrying capacity: one 2 Gy
    # fraction (survival ~0.93) would leave even its viable cells visible.
    compact = density_from_segmentation(seg, params=GrowthParameters(D_w=0.05, rho=0.05))
    assert compact.data[20, 20, 20] * 0.93 > 0.7


def test_density_respects_brain_mask_and_errors() -> None:
    seg = _seg()
    brain = np.ones(seg.shape, np.uint8)
    brain[:, :, 25:] = 0
    u = density_from_segmentation(seg, brain_mask=seg.with_data(brain, Modality.MASK))
    assert np.all(u.data[:, :, 25:] == 0)
    with pytest.raises(InputError, match="no tumour"):
        density_from_segmentation(seg.with_data(np.zeros(seg.shape, np.uint8)))
    with pytest.raises(InputError, match="label"):
        density_from_segmentation(seg.with_data(np.full(seg.shape, 3, np.uint8)))
    with pytest.raises(ModelError):
        ObservationThresholds(enhancing=0.2, flair=0.5)
