"""Known-answer tests for the core types."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pydantic import ValidationError

from braintwin.errors import InputError
from braintwin.types import (
    ChemoCourse,
    Modality,
    Region,
    TreatmentPlan,
    Visit,
    Volume,
    axcodes_from_affine,
    check_labels,
    region_mask,
)


def test_cube_volume_and_spacing() -> None:
    aff = np.diag([2.0, 2.0, 2.5, 1.0])
    v = Volume(np.zeros((10, 10, 10), np.int16), aff, Modality.T1)
    assert v.spacing == (2.0, 2.0, 2.5)
    assert v.voxel_volume_mm3 == pytest.approx(10.0)
    assert v.shape == (10, 10, 10)
    assert v.orientation == "RAS"


@pytest.mark.parametrize(
    ("diag", "code"),
    [((1, 1, 1), "RAS"), ((-1, -1, 1), "LPS"), ((-1, 1, -1), "LAI")],
)
def test_axcodes(diag: tuple[int, int, int], code: str) -> None:
    assert axcodes_from_affine(np.diag([*diag, 1])) == code


def test_axcodes_permuted_axes() -> None:
    aff = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]], float)
    assert axcodes_from_affine(aff) == "AIR"


def test_index_world_roundtrip(rng: np.random.Generator) -> None:
    aff = np.eye(4)
    aff[:3, :3] = rng.normal(size=(3, 3))
    aff[:3, 3] = rng.normal(size=3) * 10
    v = Volume(np.zeros((4, 5, 6)), aff)
    ijk = rng.uniform(0, 4, size=(7, 3))
    assert np.allclose(v.world_to_index(v.index_to_world(ijk)), ijk)


@pytest.mark.parametrize(
    "data",
    [
        np.zeros((4, 4)),
        np.zeros((4, 4, 4, 2)),
        np.array([[[np.nan]]]),
        np.full((2, 2, 2), np.inf),
        np.zeros((2, 2, 2), dtype=complex),
    ],
)
def test_bad_volumes_raise(data: np.ndarray) -> None:
    with pytest.raises(InputError):
        Volume(data, np.eye(4))


def test_singular_affine_raises() -> None:
    with pytest.raises(InputError, match="singular"):
        Volume(np.zeros((2, 2, 2)), np.diag([1, 0, 1, 1]))


def test_squeezes_trailing_singleton() -> None:
    assert Volume(np.zeros((3, 3, 3, 1)), np.eye(4)).shape == (3, 3, 3)


def test_with_data_keeps_grid() -> None:
    v = Volume(np.zeros((3, 3, 3)), np.diag([2, 2, 2, 1]), Modality.T1CE)
    w = v.with_data(np.ones((3, 3, 3), bool), Modality.MASK)
    assert w.same_grid(v) and w.modality is Modality.MASK
    with pytest.raises(InputError):
        v.with_data(np.zeros((2, 3, 3)))


def test_regions_and_labels() -> None:
    seg = np.array([0, 1, 2, 4, 4]).reshape(5, 1, 1)
    assert region_mask(seg, Region.WT).sum() == 4
    assert region_mask(seg, "TC").sum() == 3
    assert region_mask(seg, Region.ET).sum() == 2
    check_labels(seg)
    with pytest.raises(InputError, match=r"\[3\]"):
        check_labels(np.array([0, 3]).reshape(2, 1, 1))


def test_visit_reference_prefers_t1ce() -> None:
    a = Volume(np.zeros((2, 2, 2)), np.eye(4), Modality.FLAIR)
    b = Volume(np.zeros((2, 2, 2)), np.eye(4), Modality.T1CE)
    v = Visit(dt.date(2020, 1, 1), {Modality.FLAIR: a, Modality.T1CE: b})
    assert v.reference is b
    assert v.modalities == (Modality.T1CE, Modality.FLAIR)


def test_treatment_plan_validation() -> None:
    plan = TreatmentPlan(name="x", start=dt.date(2020, 1, 1))
    assert plan.day_of(dt.date(2020, 1, 11)) == 10
    with pytest.raises(ValidationError):
        ChemoCourse(start_day=5, end_day=2, kill_rate_per_day=0.1)
