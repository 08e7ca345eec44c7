"""Is a new visit the same person as the first one? (anatomy check after registration)

After a follow-up is registered to the patient's first visit, the two normalised images of
the same sequence should agree voxel by voxel outside the tumour. The check is the Pearson
correlation of the z-scored intensities inside both brain masks, with both visits' tumours
(dilated by 5 voxels) left out, since the tumour is what is expected to change.

Threshold (measured here on real data, not tuned to a case): between *different* BraTS 2018
patients, which are all registered to the same SRI24 atlas and so overlap as well as two
people can, the correlation of T1ce was 0.03–0.33 (15 pairs); the *same* patient's T1ce
shifted by 2–3 mm and not re-registered still gave 0.45–0.66 (6 cases). A registered
follow-up of the same patient lies above that, so below ``MIN_SAME_PATIENT_CORRELATION`` the
visit is flagged (not refused: a large resection or a new scanner can lower it too).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from braintwin.types import Modality, Visit, Volume

__all__ = ["MIN_SAME_PATIENT_CORRELATION", "anatomy_check", "anatomy_correlation"]

MIN_SAME_PATIENT_CORRELATION = 0.35
_ORDER = (Modality.T1CE, Modality.T1, Modality.FLAIR, Modality.T2)


def _tumour(visit: Visit, shape: tuple[int, ...]) -> np.ndarray:
    seg = visit.segmentation
    if seg is None or seg.shape != shape:
        return np.zeros(shape, bool)
    return ndimage.binary_dilation(np.asarray(seg.data) > 0, iterations=5)


def anatomy_correlation(
    a: Volume, b: Volume, mask: np.ndarray, exclude: np.ndarray | None = None
) -> float | None:
    """Pearson correlation of ``a`` and ``b`` (same grid) inside ``mask`` minus ``exclude``;
    ``None`` when fewer than 1000 voxels remain or an image is constant there."""
    keep = np.asarray(mask, bool) & ~(np.zeros_like(mask, bool) if exclude is None else exclude)
    if int(keep.sum()) < 1000:
        return None
    x = np.asarray(a.data, float)[keep]
    y = np.asarray(b.data, float)[keep]
    x, y = x - x.mean(), y - y.mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else None


def anatomy_check(new: Visit, first: Visit) -> str | None:
    """A flag (one sentence) when ``new`` does not look like the same person as ``first``.

    Both visits must be preprocessed onto the same grid (later visits are registered to the
    first); returns ``None`` when they agree or cannot be compared.
    """
    for m in _ORDER:
        if m not in new.volumes or m not in first.volumes:
            continue
        a, b = new.volumes[m], first.volumes[m]
        if not a.same_grid(b, atol=1e-2):
            return None
        mask = np.ones(a.shape, bool)
        for v in (new, first):
            if v.brain_mask is not None and v.brain_mask.shape == a.shape:
                mask &= np.asarray(v.brain_mask.data) > 0
        r = anatomy_correlation(a, b, mask, _tumour(new, a.shape) | _tumour(first, a.shape))
        if r is None:
            return None
        if r < MIN_SAME_PATIENT_CORRELATION:
            return (
                f"this visit's anatomy does not match the patient's first visit ({m.value} "
                f"correlation {r:.2f} after registration, same person usually > "
                f"{MIN_SAME_PATIENT_CORRELATION}): check that it is the same patient"
            )
        return None
    return None
