"""``Volume``: the one image type used everywhere in braintwin.

A ``Volume`` is a 3D array of voxel values plus the 4x4 affine that maps voxel indices (i, j, k)
to world coordinates in millimetres (RAS+, the NIfTI convention), and the modality it shows.
Spacing is derived from the affine, never stored separately, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from braintwin.errors import InputError

__all__ = ["Modality", "Volume", "axcodes_from_affine", "spacing_of", "voxel_volume_of"]


class Modality(StrEnum):
    """What a volume shows. MRI sequences first, then derived maps."""

    T1 = "t1"
    T1CE = "t1ce"
    T2 = "t2"
    FLAIR = "flair"
    SEG = "seg"  # BraTS labels 0/1/2/4
    MASK = "mask"  # binary mask (brain, region)
    DENSITY = "density"  # tumour cell density u in [0, 1]
    PROBABILITY = "probability"
    OTHER = "other"

    @classmethod
    def mri(cls) -> tuple[Modality, ...]:
        """The four structural MRI sequences, in the canonical BraTS order."""
        return (cls.T1, cls.T1CE, cls.T2, cls.FLAIR)

    @property
    def is_label(self) -> bool:
        """True for label/mask modalities, which must be resampled with nearest neighbour."""
        return self in (Modality.SEG, Modality.MASK)


_AXIS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))


def axcodes_from_affine(affine: npt.ArrayLike) -> str:
    """Orientation code of each voxel axis, e.g. ``"RAS"`` or ``"LPS"``.

    The code names the world direction each voxel axis *increases towards*, as in nibabel's
    ``aff2axcodes``. Axes are matched greedily by the largest absolute direction cosine.
    """
    a = np.asarray(affine, dtype=float)
    rot = a[:3, :3]
    norms = np.linalg.norm(rot, axis=0)
    if np.any(norms == 0):
        raise InputError("affine has a zero-length voxel axis", "check the image header")
    cosines = rot / norms
    codes = [""] * 3
    used: set[int] = set()
    # Greedy assignment from the most decisive axis so oblique affines stay unambiguous.
    order = np.argsort(-np.max(np.abs(cosines), axis=0))
    for vox_axis in order:
        col = np.abs(cosines[:, vox_axis]).copy()
        for w in used:
            col[w] = -1.0
        world_axis = int(np.argmax(col))
        used.add(world_axis)
        positive = cosines[world_axis, vox_axis] > 0
        codes[vox_axis] = _AXIS_LABELS[world_axis][1 if positive else 0]
    return "".join(codes)


def spacing_of(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size along each array axis (mm) of a 4x4 voxel-to-world affine."""
    sp = np.linalg.norm(np.asarray(affine, dtype=float)[:3, :3], axis=0)
    return (float(sp[0]), float(sp[1]), float(sp[2]))


def voxel_volume_of(affine: np.ndarray) -> float:
    """Volume of one voxel (mm³) of a 4x4 voxel-to-world affine."""
    return float(abs(np.linalg.det(np.asarray(affine, dtype=float)[:3, :3])))


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D image with its voxel-to-world affine (mm) and modality.

    Attributes:
        data: array of shape (nx, ny, nz); any numeric or bool dtype; finite values only.
        affine: (4, 4) voxel index -> world (mm, RAS+) transform.
        modality: what the image shows.
        meta: free-form, non-identifying provenance (e.g. ``{"source": "nifti"}``).
    """

    data: np.ndarray
    affine: np.ndarray
    modality: Modality = Modality.OTHER
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        affine = np.asarray(self.affine, dtype=np.float64)
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        if data.ndim != 3:
            raise InputError(
                f"expected a 3D volume, got {data.ndim}D with shape {data.shape}",
                "give one 3D image per modality (split 4D series first)",
            )
        if min(data.shape) < 1:
            raise InputError(f"volume has an empty axis: shape {data.shape}")
        if data.dtype.kind not in "biuf":
            raise InputError(f"unsupported voxel type {data.dtype}", "use integer or float voxels")
        if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
            bad = int(np.count_nonzero(~np.isfinite(data)))
            raise InputError(
                f"volume contains {bad} NaN/Inf voxel(s)",
                "fix or re-export the image; braintwin never guesses missing intensities",
            )
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise InputError(f"affine must be a finite 4x4 matrix, got shape {affine.shape}")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-9:
            raise InputError("affine is singular (zero voxel size)", "check the image header")
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "affine", affine)
        object.__setattr__(self, "modality", Modality(self.modality))

    # -- geometry -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        s = self.data.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size along each array axis in mm."""
        return spacing_of(self.affine)

    @property
    def voxel_volume_mm3(self) -> float:
        return voxel_volume_of(self.affine)

    @property
    def orientation(self) -> str:
        """Axis codes such as ``"RAS"`` (see :func:`axcodes_from_affine`)."""
        return axcodes_from_affine(self.affine)

    @property
    def origin(self) -> tuple[float, float, float]:
        o = self.affine[:3, 3]
        return (float(o[0]), float(o[1]), float(o[2]))

    def index_to_world(self, ijk: npt.ArrayLike) -> np.ndarray:
        """Voxel indices (..., 3) -> world coordinates in mm (..., 3)."""
        p = np.asarray(ijk, dtype=float)
        return p @ self.affine[:3, :3].T + self.affine[:3, 3]

    def world_to_index(self, xyz: npt.ArrayLike) -> np.ndarray:
        """World coordinates in mm (..., 3) -> fractional voxel indices (..., 3)."""
        inv = np.linalg.inv(self.affine)
        p = np.asarray(xyz, dtype=float)
        return p @ inv[:3, :3].T + inv[:3, 3]

    def same_grid(self, other: Volume, atol: float = 1e-3) -> bool:
        """True when both volumes share shape and affine (voxel-wise comparable)."""
        return self.shape == other.shape and bool(np.allclose(self.affine, other.affine, atol=atol))

    # -- construction ---------------------------------------------------------------------
    def with_data(self, data: np.ndarray, modality: Modality | None = None, **meta: Any) -> Volume:
        """A new volume on the same grid with different voxels (and optionally modality)."""
        if data.shape[:3] != self.shape:
            raise InputError(f"data shape {data.shape} does not match volume grid {self.shape}")
        return Volume(
            data,
            self.affine.copy(),
            self.modality if modality is None else modality,
            {**self.meta, **meta},
        )

    def with_spacing(self, spacing: tuple[float, float, float]) -> Volume:
        """The same voxels with another voxel size (mm): directions and the first voxel's
        position are kept, only the column lengths of the affine change. For headers that lie
        about the voxel size (an explicit user override, never applied silently)."""
        sp = np.asarray(spacing, dtype=float)
        if sp.shape != (3,) or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
            raise InputError(f"voxel size {spacing} mm", "give three positive sizes in mm")
        affine = self.affine.copy()
        affine[:3, :3] = affine[:3, :3] / np.asarray(self.spacing) * sp
        meta = {**self.meta, "spacing_override_mm": [float(v) for v in sp]}
        return Volume(self.data, affine, self.modality, meta)

    def astype(self, dtype: npt.DTypeLike) -> Volume:
        return self.with_data(self.data.astype(dtype))

    def __repr__(self) -> str:
        sp = ", ".join(f"{s:.3g}" for s in self.spacing)
        return (
            f"Volume({self.modality.value}, shape={self.shape}, spacing=({sp}) mm, "
            f"{self.orientation}, dtype={self.data.dtype})"
        )
