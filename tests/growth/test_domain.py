"""Domain construction, coarsening, seeds and tissue-dependent diffusivity."""

from __future__ import annotations

import numpy as np
import pytest

from braintwin.errors import InputError, ModelError
from braintwin.growth import Domain, GrowthParameters
from braintwin.types import Modality, Volume

AFF = np.array([[1.0, 0, 0, -10], [0, 1.0, 0, -20], [0, 0, 1.0, 5], [0, 0, 0, 1]])


def _maps() -> tuple[Volume, Volume, Volume]:
    mask = np.zeros((12, 12, 12), np.uint8)
    mask[1:11, 1:11, 1:11] = 1
    wm = np.zeros(mask.shape, np.float32)
    wm[:6] = 0.8
    gm = np.zeros(mask.shape, np.float32)
    gm[6:] = 0.5
    v = lambda a, m: Volume(a, AFF, m)  # noqa: E731
    return v(wm, Modality.PROBABILITY), v(gm, Modality.PROBABILITY), v(mask, Modality.MASK)


def test_diffusivity_follows_tissue() -> None:
    wm, gm, mask = _maps()
    dom = Domain.from_tissue_maps(wm, gm, None, mask)
    D = dom.diffusivity(GrowthParameters(D_w=1.0, gm_ratio=0.1, csf_ratio=0.0))
    # wm 0.8 + csf 0.2 -> 0.8 D_w; gm 0.5 + csf 0.5 -> 0.05 D_w; outside the brain 0.
    assert D[3, 5, 5] == pytest.approx(0.8)
    assert D[8, 5, 5] == pytest.approx(0.05)
    assert D[0, 5, 5] == 0 and D[5, 11, 5] == 0
    np.testing.assert_allclose((dom.wm + dom.gm + dom.csf)[dom.mask], 1.0, rtol=1e-6)


def test_coarsen_keeps_world_positions_and_volume() -> None:
    _, _, mask = _maps()
    dom = Domain.homogeneous(mask)
    c = dom.coarsen(2)
    assert c.shape == (6, 6, 6) and c.spacing == (2.0, 2.0, 2.0)
    assert c.mask.sum() * c.voxel_volume_mm3 == pytest.approx(dom.mask.sum(), rel=0.5)
    # Coarse voxel (1,1,1) covers fine voxels 2..3: centre at fine index 2.5.
    world = c.affine @ [1, 1, 1, 1]
    np.testing.assert_allclose(world[:3], (AFF @ [2.5, 2.5, 2.5, 1])[:3])


def test_seed_outside_brain_and_bad_maps() -> None:
    wm, gm, mask = _maps()
    dom = Domain.from_tissue_maps(wm, gm, None, mask)
    assert dom.world_to_voxel((AFF @ [5, 5, 5, 1])[:3]) == (5, 5, 5)
    with pytest.raises(ModelError, match="outside the brain"):
        dom.world_to_voxel((AFF @ [0, 0, 0, 1])[:3])
    with pytest.raises(ModelError, match="outside the image"):
        dom.world_to_voxel((500.0, 0.0, 0.0))
    with pytest.raises(InputError, match="grid"):
        Domain.from_tissue_maps(Volume(np.zeros((3, 3, 3)), AFF), gm, None, mask)
    with pytest.raises(InputError, match="empty"):
        Domain.homogeneous(mask.with_data(np.zeros(mask.shape, np.uint8)))
