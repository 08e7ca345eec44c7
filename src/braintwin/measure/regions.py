"""Per-region tumour measurements: volume, largest diameter, RANO bidimensional product.

RANO (Wen et al. 2010, J Clin Oncol 28:1963-1972) measures each enhancing lesion on the axial
slice where it is largest, as the longest in-plane diameter times the longest diameter
perpendicular to it. A lesion is *measurable* when both diameters are ≥ 10 mm and it is
visible on at least two axial slices; the response assessment uses the sum of the products
of up to five measurable lesions (SPD). Here lesions are 3D connected components
(26-connectivity) of a region, and diameters follow the voxel-edge convention of
:mod:`braintwin.measure.geometry`. For whole-tumour (FLAIR) regions the same numbers are given
for reference; RANO assesses those qualitatively.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage

from braintwin.errors import InputError
from braintwin.measure.geometry import (
    axial_axis,
    chord_perpendicular,
    farthest_pair,
    max_pairwise_distance,
    surface_corners_mm,
)
from braintwin.types import Region, Volume, check_labels, region_mask

__all__ = [
    "MAX_TARGET_LESIONS",
    "MEASURABLE_MIN_MM",
    "Lesion",
    "RegionMeasurement",
    "bidimensional",
    "crop_affine",
    "measure_region",
    "measure_segmentation",
]

MEASURABLE_MIN_MM = 10.0  # RANO: both perpendicular diameters >= 10 mm (Wen et al. 2010)
MAX_TARGET_LESIONS = 5  # RANO: up to five target lesions enter the sum of products
_CONNECTIVITY_26 = np.ones((3, 3, 3), dtype=bool)
_CORNERS_2D = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.int64)


@dataclass(frozen=True)
class Lesion:
    """One connected lesion measured on its axial slice of maximal area.

    Attributes:
        longest_mm: longest in-plane diameter (mm).
        perpendicular_mm: longest diameter perpendicular to it (mm).
        product_mm2: longest × perpendicular (mm²).
        axial_slice: index of that slice along the volume's axial voxel axis.
        n_slices: number of axial slices the lesion touches.
        volume_ml: lesion volume (mL).
        diameter_mm: largest 3D diameter of the lesion (mm).
    """

    longest_mm: float
    perpendicular_mm: float
    product_mm2: float
    axial_slice: int
    n_slices: int
    volume_ml: float
    diameter_mm: float

    @property
    def measurable(self) -> bool:
        return (
            self.longest_mm >= MEASURABLE_MIN_MM
            and self.perpendicular_mm >= MEASURABLE_MIN_MM
            and self.n_slices >= 2
        )


@dataclass(frozen=True)
class RegionMeasurement:
    """Measurements of one tumour region (see module docstring for definitions).

    Attributes:
        region: region name ("WT", "TC", "ET", "edema", "necrosis").
        voxel_count: number of voxels in the region.
        volume_ml: voxel_count × voxel volume (mm³) / 1000.
        largest_diameter_mm: largest 3D distance across the region (all components; small
            distant fragments count, so see also ``index_lesion_diameter_mm``).
        index_lesion_diameter_mm: largest 3D diameter of the index lesion alone.
        longest_axial_mm, perpendicular_mm, bidimensional_mm2: the index lesion (largest
            product) on its axial slice of maximal area; 0 when the region is empty.
        axial_slice: that slice's index along the axial voxel axis, or None.
        sum_of_products_mm2: RANO SPD over up to five measurable lesions (mm²).
        n_measurable: number of measurable lesions.
        centroid_mm: centre of mass of the voxel centres in world mm (RAS), or None.
        n_components: number of 26-connected components.
    """

    region: str
    voxel_count: int
    volume_ml: float
    largest_diameter_mm: float
    index_lesion_diameter_mm: float
    longest_axial_mm: float
    perpendicular_mm: float
    bidimensional_mm2: float
    axial_slice: int | None
    sum_of_products_mm2: float
    n_measurable: int
    centroid_mm: tuple[float, float, float] | None
    n_components: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        if d["centroid_mm"] is not None:
            d["centroid_mm"] = list(d["centroid_mm"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RegionMeasurement:
        """Inverse of :meth:`to_dict` (e.g. for measurements read back from the store)."""
        c = d.get("centroid_mm")
        try:
            return cls(**{**d, "centroid_mm": None if c is None else tuple(float(x) for x in c)})
        except TypeError as exc:
            raise InputError(f"not a region measurement record: {exc}") from exc


def _plane_basis(affine: np.ndarray, ax: int) -> tuple[tuple[int, int], np.ndarray]:
    """In-plane voxel axes and an orthonormal (2, 3) basis of the slice plane."""
    a, b = (i for i in range(3) if i != ax)
    col_a, col_b = affine[:3, a], affine[:3, b]
    e1 = col_a / np.linalg.norm(col_a)
    e2 = col_b - (col_b @ e1) * e1
    e2 = e2 / np.linalg.norm(e2)
    return (a, b), np.stack([e1, e2])


def bidimensional(mask: np.ndarray, affine: np.ndarray) -> Lesion:
    """RANO bidimensional measurement of ``mask`` on its axial slice of maximal area.

    Args:
        mask: boolean (nx, ny, nz), one lesion (several are measured as one).
        affine: (4, 4) voxel -> world mm.

    Returns:
        The :class:`Lesion` (all zeros for an empty mask).
    """
    mask = np.asarray(mask, dtype=bool)
    affine = np.asarray(affine, dtype=float)
    ax = axial_axis(affine)
    (a, b), basis = _plane_basis(affine, ax)
    voxel_ml = abs(float(np.linalg.det(affine[:3, :3]))) / 1000.0
    per_slice = np.moveaxis(mask, ax, 0)
    touched = np.flatnonzero(per_slice.reshape(per_slice.shape[0], -1).any(axis=1))
    if touched.size == 0:
        return Lesion(0.0, 0.0, 0.0, 0, 0, 0.0, 0.0)
    # Holes are filled for choosing the slice: a ring-enhancing (necrotic) tumour is measured
    # across its necrotic centre, so its area is the area inside the outer margin. (RANO
    # excludes cystic or surgical cavities; a label map cannot tell those apart.)
    areas = [int(ndimage.binary_fill_holes(per_slice[k]).sum()) for k in touched]
    k = int(touched[int(np.argmax(areas))])
    plane = per_slice[k]  # axes (a, b) in order
    edge = plane & ~ndimage.binary_erosion(plane, border_value=0)
    ij = np.argwhere(edge)
    corners2 = np.unique((ij[:, None, :] + _CORNERS_2D[None]).reshape(-1, 2), axis=0) - 0.5
    idx3 = np.empty((len(corners2), 3))
    idx3[:, a], idx3[:, b], idx3[:, ax] = corners2[:, 0], corners2[:, 1], k
    world = idx3 @ affine[:3, :3].T + affine[:3, 3]
    pts = world @ basis.T  # exact in-plane coordinates (mm)
    i, j, longest = farthest_pair(pts)
    perp = chord_perpendicular(pts, pts[j] - pts[i])
    return Lesion(
        longest_mm=longest,
        perpendicular_mm=perp,
        product_mm2=longest * perp,
        axial_slice=k,
        n_slices=int(touched.size),
        volume_ml=float(mask.sum()) * voxel_ml,
        diameter_mm=max_pairwise_distance(surface_corners_mm(mask, affine)),
    )


def crop_affine(affine: np.ndarray, start: tuple[int, int, int]) -> np.ndarray:
    """Affine of a sub-array whose first voxel is ``start`` in the full grid."""
    shift = np.eye(4)
    shift[:3, 3] = start
    return affine @ shift


def _lesions(mask: np.ndarray, affine: np.ndarray) -> tuple[list[Lesion], int]:
    """Measure each 26-connected component that could matter for RANO."""
    labels, n = ndimage.label(mask, structure=_CONNECTIVITY_26)
    if n == 0:
        return [], 0
    ax = axial_axis(affine)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    sizes = np.bincount(labels.ravel())[1:]
    largest = int(np.argmax(sizes))
    out: list[Lesion] = []
    for comp, sl in enumerate(ndimage.find_objects(labels)):
        if sl is None:
            continue
        extent = np.array([s.stop - s.start for s in sl]) * spacing
        inplane = np.delete(extent, ax)
        # A lesion whose in-plane bounding-box diagonal is < 10 mm cannot be measurable;
        # skip it (the biggest component is always measured, to have an index lesion).
        if comp != largest and float(np.hypot(*inplane)) < MEASURABLE_MIN_MM:
            continue
        sub = labels[sl] == comp + 1
        start = (sl[0].start, sl[1].start, sl[2].start)
        lesion = bidimensional(sub, crop_affine(affine, start))
        # Report the slice index in the full grid, not the crop.
        out.append(replace(lesion, axial_slice=lesion.axial_slice + start[ax]))
    return out, n


def measure_region(seg: Volume, region: Region | str) -> RegionMeasurement:
    """Measure one region of a BraTS label volume (labels 0/1/2/4, any voxel spacing)."""
    region = Region(region)
    mask = region_mask(seg.data, region)
    count = int(mask.sum())
    if count == 0:
        return RegionMeasurement(
            region.value, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None, 0.0, 0, None, 0
        )
    # Work on the region's bounding box: erosion, labelling and hulls scale with its size.
    (box,) = ndimage.find_objects(mask.astype(np.uint8))
    start = (box[0].start, box[1].start, box[2].start)
    sub, sub_affine = mask[box], crop_affine(seg.affine, start)
    ax = axial_axis(seg.affine)
    lesions, n_comp = _lesions(sub, sub_affine)
    lesions = [replace(les, axial_slice=les.axial_slice + start[ax]) for les in lesions]
    index = max(lesions, key=lambda les: (les.product_mm2, les.volume_ml))
    measurable = sorted(
        (les for les in lesions if les.measurable), key=lambda les: -les.product_mm2
    )
    spd = float(sum(les.product_mm2 for les in measurable[:MAX_TARGET_LESIONS]))
    centroid = sub_affine[:3, :3] @ np.argwhere(sub).mean(axis=0) + sub_affine[:3, 3]
    return RegionMeasurement(
        region=region.value,
        voxel_count=count,
        volume_ml=count * seg.voxel_volume_mm3 / 1000.0,
        largest_diameter_mm=max_pairwise_distance(surface_corners_mm(sub, sub_affine)),
        index_lesion_diameter_mm=index.diameter_mm,
        longest_axial_mm=index.longest_mm,
        perpendicular_mm=index.perpendicular_mm,
        bidimensional_mm2=index.product_mm2,
        axial_slice=index.axial_slice,
        sum_of_products_mm2=spd,
        n_measurable=len(measurable),
        centroid_mm=(float(centroid[0]), float(centroid[1]), float(centroid[2])),
        n_components=n_comp,
    )


def measure_segmentation(
    seg: Volume, regions: tuple[Region | str, ...] = tuple(Region)
) -> dict[str, RegionMeasurement]:
    """Measure every tumour region of a BraTS label volume.

    Args:
        seg: label Volume (nx, ny, nz) with values in {0, 1, 2, 4}; any spacing/orientation.
        regions: which regions (default WT, TC, ET, edema, necrosis).

    Returns:
        region name -> :class:`RegionMeasurement` (volumes in mL, lengths in mm, areas mm²).

    Raises:
        InputError: labels outside {0, 1, 2, 4}.
    """
    if seg.data.dtype.kind not in "biuf":
        raise InputError(f"segmentation has unsupported dtype {seg.data.dtype}")
    check_labels(seg.data)
    return {Region(r).value: measure_region(seg, r) for r in regions}
