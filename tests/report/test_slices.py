"""Slice orientation, markers and scale bar: known answers on tiny volumes.

A bright blob in the patient's left hemisphere must be drawn on the side the panel marks "L",
whatever the storage order of the array (read from the affine), and the scale bar must be as
many pixels long as its millimetres say.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from braintwin.report.figures import Layer, slice_grid
from braintwin.report.slices import (
    annotate,
    array_directions,
    crop_box,
    plane_view,
    scale_bar_mm,
)


def _blob(shape: tuple[int, int, int], at: tuple[int, int, int]) -> np.ndarray:
    data = np.zeros(shape, np.float32)
    x, y, z = at
    data[x - 2 : x + 3, y - 2 : y + 3, z - 2 : z + 3] = 1.0
    return data


def _col_centre(img: np.ndarray) -> float:
    return float(np.argwhere(img > 0.5)[:, 1].mean())


def _row_centre(img: np.ndarray) -> float:
    return float(np.argwhere(img > 0.5)[:, 0].mean())


def test_left_blob_is_drawn_on_the_side_marked_L_for_RAS() -> None:
    # RAS+: index 0 increases towards the patient's right, so a low x index is the left.
    data = _blob((40, 40, 40), (8, 20, 20))
    view = plane_view(data, np.eye(4), (8, 20, 20), "axial")
    assert (view.left, view.right, view.top, view.bottom) == ("R", "L", "A", "P")
    assert _col_centre(view.image) > view.image.shape[1] / 2  # on the L (right-hand) side
    cor = plane_view(data, np.eye(4), (8, 20, 20), "coronal")
    assert cor.right == "L" and _col_centre(cor.image) > cor.image.shape[1] / 2


def test_orientation_follows_the_affine_not_the_array_order() -> None:
    # LAS: index 0 increases towards the patient's left; the same low index is now the RIGHT.
    las = np.diag([-1.0, 1.0, 1.0, 1.0])
    data = _blob((40, 40, 40), (8, 20, 20))
    view = plane_view(data, las, (8, 20, 20), "axial")
    assert view.left == "R" and _col_centre(view.image) < view.image.shape[1] / 2
    # The same patient stored both ways looks the same.
    ras_data = data[::-1]
    ras = plane_view(ras_data, np.eye(4), (31, 20, 20), "axial")
    np.testing.assert_array_equal(ras.image, view.image)


def test_superior_is_up_and_anterior_is_up_then_left() -> None:
    data = _blob((40, 40, 40), (20, 30, 32))  # anterior (high y) and superior (high z)
    ax = plane_view(data, np.eye(4), (20, 30, 32), "axial")
    assert _row_centre(ax.image) < 20  # anterior at the top
    cor = plane_view(data, np.eye(4), (20, 30, 32), "coronal")
    assert cor.top == "S" and _row_centre(cor.image) < 20
    sag = plane_view(data, np.eye(4), (20, 30, 32), "sagittal")
    assert (sag.left, sag.top) == ("A", "S")
    assert _col_centre(sag.image) < 20 and _row_centre(sag.image) < 20


def test_permuted_axes_are_read_from_the_affine() -> None:
    # Array stored as (z, y, x): column 0 of the affine points along world z.
    perm = np.zeros((4, 4))
    perm[2, 0] = perm[1, 1] = perm[0, 2] = perm[3, 3] = 1.0
    assert array_directions(perm) == [(2, 1), (1, 1), (0, 1)]
    data = _blob((40, 40, 40), (8, 20, 20))
    ras = plane_view(data, np.eye(4), (8, 20, 20), "axial")
    zyx = plane_view(np.transpose(data, (2, 1, 0)), perm, (20, 20, 8), "axial")
    np.testing.assert_array_equal(ras.image, zyx.image)


def test_anisotropic_spacing_is_reported_per_displayed_axis() -> None:
    affine = np.diag([0.5, 1.0, 5.0, 1.0])
    view = plane_view(np.zeros((10, 20, 30)), affine, (5, 10, 15), "coronal")
    assert view.image.shape == (30, 10)  # rows: z (30 slices), columns: x
    assert (view.col_mm, view.row_mm) == (0.5, 5.0)


@pytest.mark.parametrize(
    ("width_mm", "bar"), [(240.0, 50.0), (100.0, 20.0), (60.0, 10.0), (30.0, 5.0), (6.0, 1.0)]
)
def test_scale_bar_is_a_round_length_within_a_quarter(width_mm: float, bar: float) -> None:
    assert scale_bar_mm(width_mm) == bar


def test_scale_bar_pixels_for_a_known_voxel_size() -> None:
    # 200 columns of 0.5 mm = 100 mm wide: a 20 mm bar is 40 pixels.
    view = plane_view(np.zeros((200, 50, 50)), np.diag([0.5, 0.5, 0.5, 1]), (100, 25, 25), "axial")
    fig, ax = plt.subplots()
    ax.imshow(view.image)
    px = annotate(ax, view)
    texts = {t.get_text() for t in ax.texts}
    plt.close(fig)
    assert px == pytest.approx(40.0)
    assert {"R", "L", "A", "P", "20 mm"} <= texts


def test_crop_box_is_the_mask_bounding_box_plus_margin() -> None:
    mask = np.zeros((50, 50, 50), bool)
    mask[10:20, 30:41, 0:5] = True
    box = crop_box(mask, mask.shape, margin=3)
    assert box == (slice(7, 23), slice(27, 44), slice(0, 8))
    assert crop_box(None, (4, 4, 4)) == (slice(None),) * 3


def test_slice_grid_renders_a_png_with_markers() -> None:
    data = _blob((40, 40, 40), (8, 20, 20))
    png = slice_grid([("T1", [Layer(data, "gray")])], np.eye(4), center=(8, 20, 20))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
