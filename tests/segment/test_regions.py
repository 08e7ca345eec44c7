"""BraTS labels <-> region channels."""

from __future__ import annotations

import numpy as np

from braintwin.segment.regions import labels_to_regions, regions_to_labels


def test_round_trip(rng: np.random.Generator) -> None:
    seg = rng.choice(np.array([0, 1, 2, 4], dtype=np.uint8), size=(6, 5, 4))
    regions = labels_to_regions(seg)
    assert regions.shape == (3, 6, 5, 4)
    assert np.array_equal(regions_to_labels(regions), seg)


def test_nesting_enforced() -> None:
    regions = np.zeros((3, 1, 1, 3), dtype=bool)
    regions[2, 0, 0, 0] = True  # ET without TC/WT -> dropped
    regions[:2, 0, 0, 1] = True  # TC inside WT, no ET -> necrotic core
    regions[0, 0, 0, 2] = True  # WT only -> edema
    assert regions_to_labels(regions)[0, 0].tolist() == [0, 1, 2]


def test_keep_main_components_drops_small_blobs_only() -> None:
    from braintwin.segment.regions import keep_main_components

    r = np.zeros((3, 30, 10, 10), dtype=bool)
    r[:, 2:12, 2:8, 2:8] = True  # main lesion: 360 voxels
    r[0, 15:19, 2:8, 2:8] = True  # second focus: 144 voxels (40 %) -> kept
    r[:, 25:27, 2:4, 2:4] = True  # speck: 8 voxels (2 %) -> dropped with its TC/ET
    out = keep_main_components(r)
    assert out[0].sum() == 360 + 144
    assert not out[:, 25:27].any()
    assert out[1].sum() == 360 and out[2].sum() == 360
