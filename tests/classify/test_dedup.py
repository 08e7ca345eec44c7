"""Perceptual hashing, union-find grouping and the leak-free group split."""

from __future__ import annotations

import numpy as np

from braintwin.classify.dedup import (
    UnionFind,
    group_near_duplicates,
    hamming_matrix,
    phash,
    split_groups,
)


def _smooth_images(rng: np.random.Generator, n: int) -> np.ndarray:
    """Synthetic distinct images: smoothed noise (energy over many low frequencies, like MRI)."""
    from scipy.ndimage import gaussian_filter

    out = [gaussian_filter(rng.normal(size=(64, 64)), 3.0) for _ in range(n)]
    return np.asarray(
        [np.rint(255 * (x - x.min()) / (x.max() - x.min())) for x in out], dtype=np.uint8
    )


def test_hamming_matches_python_popcount(rng: np.random.Generator) -> None:
    a = rng.integers(0, 2**63, size=7, dtype=np.uint64)
    b = rng.integers(0, 2**63, size=5, dtype=np.uint64)
    ref = np.array([[bin(int(x) ^ int(y)).count("1") for y in b] for x in a])
    np.testing.assert_array_equal(hamming_matrix(a, b), ref)


def test_phash_tolerates_copies_and_separates_distinct(rng: np.random.Generator) -> None:
    imgs = _smooth_images(rng, 6)
    brighter = np.rint(imgs * 0.9 + 20).astype(np.uint8)  # contrast + brightness change
    noisy = np.clip(imgs + rng.normal(0, 4, imgs.shape), 0, 255).astype(np.uint8)
    h, hb, hn = phash(imgs), phash(brighter), phash(noisy)
    assert np.all(np.diag(hamming_matrix(h, hb)) <= 4)  # rounding flips near-median bits
    assert np.all(np.diag(hamming_matrix(h, hn)) <= 6)
    d = hamming_matrix(h, h)
    assert np.all(d[~np.eye(6, dtype=bool)] > 6)  # distinct patterns stay apart


def test_union_find_is_transitive() -> None:
    uf = UnionFind(5)
    uf.union(0, 1)
    uf.union(1, 2)
    assert uf.find(0) == uf.find(2) != uf.find(3)


def test_groups_are_transitive_chains() -> None:
    base = np.uint64(0)
    one = np.uint64(0b1111)  # 4 bits from base
    two = np.uint64(0b11111111)  # 4 bits from `one`, 8 from base
    far = np.uint64(2**64 - 1)
    g = group_near_duplicates(np.array([base, one, two, far], dtype=np.uint64), max_hamming=4)
    assert g[0] == g[1] == g[2] != g[3]


def test_split_never_straddles_and_is_seeded(rng: np.random.Generator) -> None:
    groups = np.repeat(np.arange(300), rng.integers(1, 5, size=300))
    labels = groups % 4
    tr, va = split_groups(groups, labels, 0.2, seed=3)
    assert set(groups[tr]).isdisjoint(groups[va])
    assert len(tr) + len(va) == len(groups)
    assert abs(len(va) / len(groups) - 0.2) < 0.03
    _tr2, va2 = split_groups(groups, labels, 0.2, seed=3)
    np.testing.assert_array_equal(va, va2)
    _, va3 = split_groups(groups, labels, 0.2, seed=4)
    assert not np.array_equal(va, va3)
