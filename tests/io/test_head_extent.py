"""Head plausibility of a visit's geometry: refuse headers that lie about the voxel size, with
the ``--spacing`` override named; accept real BraTS, demo, DICOM and clinical 5 mm stacks."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from braintwin.errors import InputError
from braintwin.io import read_visit_images, save_nifti
from braintwin.io.guards import check_head_extent
from braintwin.types import Modality, Volume


def _vol(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> Volume:
    return Volume(np.zeros(shape, np.int16), np.diag([*spacing, 1.0]), Modality.T1CE)


@pytest.mark.parametrize(
    ("shape", "spacing"),
    [
        ((240, 240, 155), (1.0, 1.0, 1.0)),  # BraTS
        ((256, 256, 24), (0.9, 0.9, 5.0)),  # clinical 5 mm axial stack: 120 mm
        ((256, 256, 192), (0.86, 0.86, 0.9)),  # MPRAGE
        ((512, 512, 30), (0.45, 0.45, 5.0)),  # high in-plane resolution, thick slices
        ((80, 80, 80), (1.0, 1.0, 1.0)),  # a crop around the tumour (tests, research data)
        ((96, 96, 24), (1.0, 1.0, 1.0)),  # a small crop: not a whole-head field of view
    ],
)
def test_plausible_heads_pass(shape: tuple[int, int, int], spacing: tuple[float, ...]) -> None:
    check_head_extent({Modality.T1CE: _vol(shape, spacing)})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shape", "spacing", "match"),
    [
        ((256, 256, 24), (1.0, 1.0, 1.0), "a 24 mm slab of a 256 mm field of view"),
        ((256, 256, 1), (1.0, 1.0, 1.0), "a 1 mm slab"),
        ((240, 240, 155), (0.1, 0.1, 0.1), "smaller than any head"),
        ((240, 240, 155), (10.0, 10.0, 10.0), "larger than any head"),
    ],
)
def test_implausible_geometry_refused(
    shape: tuple[int, int, int], spacing: tuple[float, ...], match: str
) -> None:
    with pytest.raises(InputError, match=match) as err:
        check_head_extent({Modality.T1CE: _vol(shape, spacing)})  # type: ignore[arg-type]
    assert "--spacing X,Y,Z" in str(err.value) and "\n" not in str(err.value)


def test_visit_refused_then_accepted_with_spacing(tmp_path: Path) -> None:
    visit = tmp_path / "v"
    visit.mkdir()
    rng = np.random.default_rng(3)
    data = rng.integers(0, 500, (256, 256, 24)).astype(np.int16)
    save_nifti(Volume(data, np.eye(4)), visit / "case_t1ce.nii.gz")
    with pytest.raises(InputError, match="t1ce: implausible geometry: 256x256x24 voxels of 1x1x1"):
        read_visit_images(visit)
    images = read_visit_images(visit, spacing=(0.9, 0.9, 5.0))
    assert images.volumes[Modality.T1CE].spacing == pytest.approx((0.9, 0.9, 5.0))
    with pytest.raises(InputError, match="the given --spacing"):
        read_visit_images(visit, spacing=(1.0, 1.0, 1.0))


def test_real_progression_layout_needs_spacing(shared_data: Path, tmp_path: Path) -> None:
    """The progression data: 256 x 256 x 24 labelled 1 mm isotropic, really ~1 x 1 x 5 mm."""
    src = shared_data / "progression" / "01" / "Pre_Scan_T1.nii.gz"
    if not src.exists():
        pytest.skip("progression data absent")
    visit = tmp_path / "pre"
    visit.mkdir()
    shutil.copy(src, visit / "pre_t1ce.nii.gz")
    with pytest.raises(InputError, match="24 mm slab of a 256 mm field of view"):
        read_visit_images(visit)
    vol = read_visit_images(visit, spacing=(1.0, 1.0, 5.0)).volumes[Modality.T1CE]
    assert vol.shape == (256, 256, 24)


def test_real_brats_case_passes(brats_case: Path) -> None:
    images = read_visit_images(brats_case)
    assert set(images.volumes) == set(Modality.mri())


def test_demo_case_passes() -> None:
    demo = resources.files("braintwin.data") / "demo" / "Brats18_2013_3_1"
    with resources.as_file(demo) as folder:
        images = read_visit_images(folder)
    assert images.volumes[Modality.T1CE].shape == (240, 240, 155)


@pytest.mark.slow
def test_real_dicom_mprage_passes(shared_data: Path) -> None:
    folder = shared_data / "dicom" / "siemens_skyra_mprage"
    if not folder.is_dir():
        pytest.skip("DICOM data absent")
    images = read_visit_images(folder)
    (vol,) = images.volumes.values()
    assert vol.shape == (256, 256, 192)
