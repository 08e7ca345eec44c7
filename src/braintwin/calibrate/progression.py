"""Longitudinal glioblastoma pairs in the layout of ``shared/data/progression``.

Layout: ``DIR/NN/{Pre_Scan_T1,Pre_Mask,Post_Scan_T1,Post_Mask}.nii.gz`` plus
``DIR/supplementary.csv`` with the scan dates (``initialDate`` = Pre, ``endDate`` = Post).
The CSV has a space after every comma (header and values); we strip it.

Spacing caveat: the NIfTI headers claim 1 mm isotropic, which is false. The TCIA source
(Schmainda & Prah 2018) has ~0.9-1 mm in-plane pixels and thick (~5 mm) slices, resized in-plane
with nearest neighbour and padded to 24 slices. We therefore **override** the header with
``ASSUMED_SPACING_MM = (1, 1, 5)`` so that distances, volumes and diffusion are in real mm.
Every loaded volume records this in ``meta["spacing_override"]``.

This module serves ``braintwin train forecast`` (the population prior is fitted on the pairs
loaded and aligned here). ``braintwin eval forecast`` does **not** load pairs this way: it takes
only :func:`pair_files` (paths and dates) and ingests each image through the twin
(:mod:`braintwin.twin.evaluate_forecast`), so it measures the path users run.

Alignment (training only): the pairs are only "roughly aligned slice by slice" (DATA.md); head position differs
by several mm between sessions. As the twin does when a visit arrives, :func:`align_follow_up`
registers the follow-up T1 rigidly onto the baseline T1 (Mattes MI inside the baseline head) and
resamples the follow-up mask into the baseline frame, so forecasts are scored where they were
made. On the six shared pairs this alone lifts the no-growth Dice from 0.416 to 0.486.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.errors import InputError
from braintwin.types import Modality, Volume

__all__ = [
    "ASSUMED_SPACING_MM",
    "SPACING_NOTE",
    "PairFiles",
    "ProgressionPair",
    "align_follow_up",
    "head_mask",
    "load_pair",
    "load_progression",
    "pair_files",
]

ASSUMED_SPACING_MM: tuple[float, float, float] = (1.0, 1.0, 5.0)
SPACING_NOTE = (
    "progression headers claim 1 mm isotropic; spacing overridden to 1 x 1 x 5 mm "
    "(in-plane ~0.9-1 mm, thick slices; see shared/data/DATA.md)"
)
_FILES = ("Pre_Scan_T1", "Pre_Mask", "Post_Scan_T1", "Post_Mask")


@dataclass(frozen=True)
class ProgressionPair:
    """One baseline/follow-up pair with binary enhancing-tumour masks (same grid).

    Attributes:
        pair_id: folder name (``"01"``…), not a patient identifier.
        pre_t1, post_t1: T1 post-contrast volumes, shape (256, 256, 24), spacing 1x1x5 mm.
        pre_mask, post_mask: boolean enhancing-tumour masks on the same grid.
        pre_date, post_date: scan dates from ``supplementary.csv``.
    """

    pair_id: str
    pre_t1: Volume
    pre_mask: Volume
    post_t1: Volume
    post_mask: Volume
    pre_date: dt.date
    post_date: dt.date

    @property
    def interval_days(self) -> float:
        """Days from baseline to follow-up."""
        return float((self.post_date - self.pre_date).days)


@dataclass(frozen=True)
class PairFiles:
    """Where one pair's images are, and its scan dates (nothing is read).

    Attributes:
        pair_id: folder name (``"01"``…), not a patient identifier.
        pre_scan, pre_mask, post_scan, post_mask: the four NIfTI files.
        pre_date, post_date: scan dates from ``supplementary.csv``.
    """

    pair_id: str
    pre_scan: Path
    pre_mask: Path
    post_scan: Path
    post_mask: Path
    pre_date: dt.date
    post_date: dt.date

    @property
    def interval_days(self) -> float:
        """Days from baseline to follow-up."""
        return float((self.post_date - self.pre_date).days)


def pair_files(root: Path | str, only: Sequence[str] | None = None) -> list[PairFiles]:
    """Every pair folder under ``root`` (sorted by name) with its dates, or only the folders
    named in ``only`` (an unknown name is an error); checks files and dates."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"not a folder: {root}", "give the folder holding NN/ pair folders")
    dates = _read_dates(root / "supplementary.csv")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and (p / "Pre_Mask.nii.gz").exists())
    if not folders:
        raise InputError(f"no pair folders (NN/Pre_Mask.nii.gz) under {root}")
    missing = [p.name for p in folders if p.name not in dates]
    if missing:
        raise InputError(f"pairs {missing} have no dates in supplementary.csv")
    out = []
    for folder in folders:
        pre_scan, pre_mask, post_scan, post_mask = (folder / f"{n}.nii.gz" for n in _FILES)
        absent = [p.name for p in (pre_scan, pre_mask, post_scan, post_mask) if not p.is_file()]
        if absent:
            raise InputError(f"missing file(s) {absent} in pair folder {folder.name}")
        pre, post = dates[folder.name]
        if post <= pre:
            raise InputError(
                f"pair {folder.name}: follow-up date {post} is not after baseline {pre}",
                "check initialDate/endDate in supplementary.csv",
            )
        out.append(PairFiles(folder.name, pre_scan, pre_mask, post_scan, post_mask, pre, post))
    if only:
        unknown = sorted(set(only) - {f.pair_id for f in out})
        if unknown:
            raise InputError(f"no pair folder(s) {unknown} under {root}")
        out = [f for f in out if f.pair_id in set(only)]
    return out


def _affine(spacing: tuple[float, float, float], header_affine: np.ndarray) -> np.ndarray:
    # Keep the header's axis directions and origin; replace only the voxel lengths.
    aff = np.array(header_affine, dtype=float)
    rot = aff[:3, :3]
    norms = np.linalg.norm(rot, axis=0)
    aff[:3, :3] = rot / norms * np.asarray(spacing)
    return aff


def _load(path: Path, modality: Modality, spacing: tuple[float, float, float]) -> Volume:
    import nibabel as nib

    if not path.is_file():
        raise InputError(f"missing file {path.name} in pair folder {path.parent.name}")
    try:
        img: Any = nib.load(str(path))
        data = np.asarray(img.dataobj)
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise InputError(f"cannot read {path.parent.name}/{path.name}: {exc}") from exc
    data = data > 0.5 if modality is Modality.MASK else data.astype(np.float32)
    return Volume(
        data,
        _affine(spacing, img.affine),
        modality,
        {"source": "progression", "spacing_override": list(spacing)},
    )


def _read_dates(csv_path: Path) -> dict[str, tuple[dt.date, dt.date]]:
    if not csv_path.is_file():
        raise InputError(
            f"no supplementary.csv in {csv_path.parent}",
            "the progression layout needs supplementary.csv with initialDate/endDate per pair",
        )
    out: dict[str, tuple[dt.date, dt.date]] = {}
    with csv_path.open(newline="") as fh:
        rows = csv.reader(fh, skipinitialspace=True)
        header = [h.strip() for h in next(rows, [])]
        try:
            i_id, i_a, i_b = (header.index(k) for k in ("id", "initialDate", "endDate"))
        except ValueError as exc:
            raise InputError(
                f"supplementary.csv header lacks id/initialDate/endDate: {header}"
            ) from exc
        for row in rows:
            if len(row) <= max(i_id, i_a, i_b) or not row[i_id].strip():
                continue
            try:
                a = dt.date.fromisoformat(row[i_a].strip())
                b = dt.date.fromisoformat(row[i_b].strip())
            except ValueError as exc:
                raise InputError(f"bad date in supplementary.csv row {row[i_id]!r}") from exc
            out[row[i_id].strip()] = (a, b)
    return out


def load_pair(
    folder: Path,
    dates: tuple[dt.date, dt.date],
    *,
    spacing: tuple[float, float, float] = ASSUMED_SPACING_MM,
) -> ProgressionPair:
    """Load one pair folder; masks become boolean; spacing overridden (see module doc)."""
    vols = {
        name: _load(
            folder / f"{name}.nii.gz", Modality.MASK if "Mask" in name else Modality.T1CE, spacing
        )
        for name in _FILES
    }
    if len({v.shape for v in vols.values()}) != 1:
        raise InputError(f"pair {folder.name}: the four images do not share one grid")
    pre, post = dates
    if post <= pre:
        raise InputError(
            f"pair {folder.name}: follow-up date {post} is not after baseline {pre}",
            "check initialDate/endDate in supplementary.csv",
        )
    return ProgressionPair(
        folder.name,
        vols["Pre_Scan_T1"],
        vols["Pre_Mask"],
        vols["Post_Scan_T1"],
        vols["Post_Mask"],
        pre,
        post,
    )


def load_progression(
    root: Path | str,
    *,
    spacing: tuple[float, float, float] = ASSUMED_SPACING_MM,
    align: bool = True,
) -> list[ProgressionPair]:
    """All pairs under ``root`` (sorted by folder name) that are listed in supplementary.csv.

    With ``align`` (default) each follow-up is registered onto its baseline
    (:func:`align_follow_up`); ``align=False`` keeps the files' own slice correspondence.
    """
    pairs = [
        load_pair(f.pre_scan.parent, (f.pre_date, f.post_date), spacing=spacing)
        for f in pair_files(root)
    ]
    return [align_follow_up(p) for p in pairs] if align else pairs


#: A rigid result beyond these (RMS displacement of the head, rotation) counts as a failed
#: registration and the identity is kept: the pairs are roughly aligned already, so a larger
#: motion means the optimiser found a wrong optimum.
MAX_ALIGN_SHIFT_MM = 25.0
MAX_ALIGN_ROTATION_DEG = 15.0


def align_follow_up(pair: ProgressionPair) -> ProgressionPair:
    """The pair with its follow-up T1 and mask resampled rigidly into the baseline frame.

    The mask is interpolated linearly and thresholded at 0.5 (a nearest-neighbour lookup would
    alias the 5 mm slices). The transform and the decision are recorded in the follow-up
    volumes' ``meta["alignment"]``; implausibly large motions keep the identity.
    """
    from braintwin.preprocess.geometry import apply_transform
    from braintwin.preprocess.registration import register_rigid, transform_magnitude

    reg = register_rigid(
        pair.post_t1,
        pair.pre_t1,
        init="identity",
        working_mm=None,  # already thick-sliced: no further block averaging
        shrink_factors=(4, 2, 1),
        smoothing_mm=(2.0, 1.0, 0.0),
        sampling=0.2,
        fixed_mask=head_mask(pair.pre_t1),
    )
    shift_mm, angle = transform_magnitude(reg.matrix, pair.post_t1)
    accepted = shift_mm <= MAX_ALIGN_SHIFT_MM and angle <= MAX_ALIGN_ROTATION_DEG
    matrix = reg.matrix if accepted else np.eye(4)
    record = {
        "matrix": np.asarray(matrix).tolist(),
        "rms_shift_mm": round(float(shift_mm), 2),
        "rotation_deg": round(float(angle), 2),
        "accepted": bool(accepted),
    }
    t1 = apply_transform(pair.post_t1, matrix, pair.pre_t1, order=1)
    soft = pair.post_mask.with_data(np.asarray(pair.post_mask.data, np.float32))
    mask = apply_transform(soft, matrix, pair.pre_mask, order=1).data >= 0.5
    return replace(
        pair,
        post_t1=t1.with_data(t1.data, alignment=record),
        post_mask=pair.pre_mask.with_data(mask, Modality.MASK, alignment=record),
    )


def head_mask(t1: Volume) -> Volume:
    """A coarse head/brain domain from a non-skull-stripped T1 (boolean Volume).

    The progression scans are not skull-stripped and no tissue maps exist for 5 mm slices, so
    the growth domain is the head interior: voxels above 10 % of the robust maximum, holes
    filled slice by slice, eroded by 3 mm in-plane to drop the scalp rim. Homogeneous D inside.
    """
    from scipy import ndimage as ndi

    data = t1.data.astype(np.float32)
    if not np.any(data > 0):
        return t1.with_data(np.ones(t1.shape, dtype=bool), Modality.MASK)
    thr = 0.1 * float(np.percentile(data[data > 0], 99))
    m = data > thr
    for k in range(m.shape[2]):
        m[:, :, k] = ndi.binary_fill_holes(ndi.binary_closing(m[:, :, k], iterations=3))
    sp = t1.spacing
    it = max(1, round(3.0 / sp[0]))
    m = ndi.binary_erosion(m, structure=np.ones((3, 3, 1), bool), iterations=it)
    return t1.with_data(m, Modality.MASK, spacing_override=list(sp))
