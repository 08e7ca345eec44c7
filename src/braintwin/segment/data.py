"""Network input preparation and BraTS case loading.

The network works at a reduced resolution (about 2 mm voxels) on the brain's bounding box: a
240×240×155 case becomes roughly 80×96×80 voxels, small enough for a whole-brain forward pass
in well under a second on 2 CPU cores. Logits are upsampled back to the input grid, so labels
are returned at full resolution. Training and inference share :func:`prepare_input`, so the
two cannot drift apart.

Intensities are z-scored inside the brain here (a local equivalent of
``braintwin.preprocess.zscore``, kept local so shipped weights stay tied to one exact
normalisation): mean and standard deviation over brain voxels between the 0.5th and 99.5th
percentiles (robust to outliers such as the int16-maximum voxels of one BraTS case), values
clipped to ±5, background 0. A missing modality is an all-zero channel — the brain mean — which
is exactly what modality dropout shows the network during training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.errors import InputError, NotFoundError
from braintwin.segment.regions import labels_to_regions
from braintwin.types.labels import check_labels
from braintwin.types.volume import Modality, Volume

__all__ = [
    "CHANNELS",
    "TARGET_SPACING_MM",
    "Prepared",
    "brain_mask_of",
    "crop_box",
    "downsample_factors",
    "extract",
    "list_brats_cases",
    "load_brats_case",
    "paste",
    "prepare_input",
    "prepare_target",
    "zscore_in_mask",
]

#: Input channel order of the network (the canonical BraTS order).
CHANNELS: tuple[Modality, ...] = Modality.mri()
#: Voxel size (mm) the network works at.
TARGET_SPACING_MM = 2.0
#: Spatial size of network inputs must be a multiple of this (4 stride-2 levels would need 16;
#: SegResNet with 3 down-samplings needs 8; 16 keeps room for either).
NET_MULTIPLE = 16
_CLIP = 5.0


@dataclass(frozen=True)
class Prepared:
    """A case ready for the network.

    Attributes:
        x: float32 (C, x, y, z) z-scored inputs at low resolution, channels in :data:`CHANNELS`.
        box: (3, 2) int array, start/stop of the crop in input-grid voxels (may exceed the grid:
            the outside is zero-padded).
        factors: down-sampling factor per axis (input voxels per network voxel).
        shape: input grid shape.
        present: which channels hold data (False: zero-filled missing modality).
    """

    x: np.ndarray
    box: np.ndarray
    factors: tuple[int, int, int]
    shape: tuple[int, int, int]
    present: tuple[bool, ...]


def brain_mask_of(arrays: list[np.ndarray]) -> np.ndarray:
    """Brain mask of skull-stripped images: voxels non-zero in any of them (bool, same shape)."""
    mask = np.zeros(arrays[0].shape, dtype=bool)
    for a in arrays:
        mask |= a != 0
    return mask


def zscore_in_mask(arr: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Robust z-score inside ``mask`` (float32, clipped to ±5, 0 outside)."""
    vals = arr[mask].astype(np.float64)
    out = np.zeros(arr.shape, dtype=np.float32)
    if vals.size < 2:
        return out
    lo, hi = np.percentile(vals, [0.5, 99.5])
    core = vals[(vals >= lo) & (vals <= hi)]
    std = float(core.std())
    if not np.isfinite(std) or std <= 1e-8:
        return out  # a constant image carries no information: treat as missing
    z = (arr[mask].astype(np.float64) - float(core.mean())) / std
    out[mask] = np.clip(z, -_CLIP, _CLIP)
    return out


def downsample_factors(spacing: tuple[float, float, float]) -> tuple[int, int, int]:
    """Integer factors taking ``spacing`` (mm) to about :data:`TARGET_SPACING_MM`."""
    f = [max(1, round(TARGET_SPACING_MM / s)) for s in spacing]
    return (f[0], f[1], f[2])


def crop_box(mask: np.ndarray, multiples: tuple[int, int, int]) -> np.ndarray:
    """Bounding box of ``mask`` grown (centred) to a multiple of ``multiples`` per axis."""
    idx = np.nonzero(mask)
    box = np.zeros((3, 2), dtype=int)
    for ax in range(3):
        lo, hi = int(idx[ax].min()), int(idx[ax].max()) + 1
        size = -(-(hi - lo) // multiples[ax]) * multiples[ax]
        start = lo - (size - (hi - lo)) // 2
        box[ax] = (start, start + size)
    return box


def extract(arr: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The ``box`` region of the last three axes of ``arr``, zero-padded outside the grid."""
    spatial = arr.shape[-3:]
    out = np.zeros((*arr.shape[:-3], *(int(b[1] - b[0]) for b in box)), dtype=arr.dtype)
    src, dst = [], []
    for ax in range(3):
        s0, s1 = max(0, box[ax, 0]), min(spatial[ax], box[ax, 1])
        src.append(slice(s0, s1))
        dst.append(slice(s0 - box[ax, 0], s1 - box[ax, 0]))
    src_i: tuple[Any, ...] = (Ellipsis, *src)
    dst_i: tuple[Any, ...] = (Ellipsis, *dst)
    out[dst_i] = arr[src_i]
    return out


def paste(crop: np.ndarray, box: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Inverse of :func:`extract`: put ``crop`` back into a zero array of spatial ``shape``."""
    out = np.zeros((*crop.shape[:-3], *shape), dtype=crop.dtype)
    src, dst = [], []
    for ax in range(3):
        s0, s1 = max(0, box[ax, 0]), min(shape[ax], box[ax, 1])
        dst.append(slice(s0, s1))
        src.append(slice(s0 - box[ax, 0], s1 - box[ax, 0]))
    src_i: tuple[Any, ...] = (Ellipsis, *src)
    dst_i: tuple[Any, ...] = (Ellipsis, *dst)
    out[dst_i] = crop[src_i]
    return out


def _block_mean(arr: np.ndarray, f: tuple[int, int, int]) -> np.ndarray:
    c, x, y, z = arr.shape
    r = arr.reshape(c, x // f[0], f[0], y // f[1], f[1], z // f[2], f[2])
    return r.mean(axis=(2, 4, 6), dtype=np.float32)


def prepare_input(
    arrays: dict[Modality, np.ndarray],
    mask: np.ndarray,
    spacing: tuple[float, float, float],
) -> Prepared:
    """Z-score, crop to the brain and down-sample the available modalities.

    Args:
        arrays: modality -> (X, Y, Z) intensities on one grid; any subset of :data:`CHANNELS`.
        mask: (X, Y, Z) bool brain mask (must be non-empty).
        spacing: voxel size in mm.
    """
    shape = mask.shape
    factors = downsample_factors(spacing)
    box = crop_box(mask, tuple(f * NET_MULTIPLE for f in factors))  # type: ignore[arg-type]
    mcrop = extract(mask, box)
    chans = []
    for m in CHANNELS:
        if m in arrays:
            chans.append(zscore_in_mask(extract(arrays[m], box), mcrop))
        else:
            chans.append(np.zeros(mcrop.shape, dtype=np.float32))
    x = _block_mean(np.stack(chans), factors)
    return Prepared(
        x=x.astype(np.float32),
        box=box,
        factors=factors,
        shape=(int(shape[0]), int(shape[1]), int(shape[2])),
        present=tuple(m in arrays for m in CHANNELS),
    )


def prepare_target(seg: np.ndarray, prepared: Prepared) -> np.ndarray:
    """Soft region targets (3, x, y, z) in [0, 1] on the network grid (partial-volume fractions)."""
    regions = labels_to_regions(extract(seg, prepared.box)).astype(np.float32)
    return _block_mean(regions, prepared.factors)


# -- BraTS folders ---------------------------------------------------------------------------
def list_brats_cases(data_dir: Path) -> list[Path]:
    """Case folders of a BraTS-layout directory, sorted by name."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise NotFoundError(f"data folder not found: {data_dir}", "give a BraTS-layout folder")
    cases = sorted(p for p in data_dir.iterdir() if p.is_dir() and any(p.glob("*.nii*")))
    if not cases:
        raise InputError(
            f"no case folders with NIfTI files in {data_dir}",
            "expected CASE/CASE_{t1,t1ce,t2,flair,seg}.nii.gz",
        )
    return cases


def _load(path: Path, modality: Modality) -> Volume:
    import nibabel as nib

    img: Any = nib.load(str(path))
    data = np.asarray(img.dataobj)
    if modality is Modality.SEG:
        data = np.rint(data).astype(np.int16) if data.dtype.kind == "f" else data
    return Volume(data, img.affine, modality, {"source": "nifti"})


def load_brats_case(
    case_dir: Path, modalities: tuple[Modality, ...] | None = None
) -> tuple[dict[Modality, Volume], Volume | None]:
    """Load ``CASE/CASE_{t1,t1ce,t2,flair,seg}.nii(.gz)``; missing modalities are skipped.

    Returns:
        (modality -> Volume, expert segmentation Volume or None). Labels are checked.
    """
    case_dir = Path(case_dir)
    wanted = modalities if modalities is not None else CHANNELS
    found: dict[Modality, Volume] = {}
    seg: Volume | None = None
    for m in (*wanted, Modality.SEG):
        paths = sorted(case_dir.glob(f"*_{m.value}.nii*"))
        if not paths:
            continue
        vol = _load(paths[0], m)
        if m is Modality.SEG:
            check_labels(vol.data)
            seg = vol
        else:
            found[m] = vol
    if not found:
        raise InputError(
            f"no MRI volumes found in case folder {case_dir.name}",
            "expected files named CASE_t1ce.nii.gz, CASE_flair.nii.gz, …",
        )
    return found, seg
