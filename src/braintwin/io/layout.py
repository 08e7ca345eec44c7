"""Find and read the images of one visit from whatever the user points at.

Accepted: a single NIfTI file; a BraTS case folder (``CASE_{t1,t1ce,t2,flair,seg}.nii.gz``); a
generic folder of NIfTI files named by sequence; a DICOM series folder; a folder of DICOM series
sub-folders; or a mix. Each image's sequence comes from the user's override, else from its
name / DICOM tags; anything ambiguous is refused with the guesses and the way to override.
Everything returned is free of identifiers except ``patient_key`` and ``study_date``, which
stay in memory for pseudonymisation and date shifting.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from braintwin.errors import InputError
from braintwin.io.dicom import DicomSeries, read_dicom_files, series_from_datasets
from braintwin.io.guards import check_fields_of_view, check_head_extent, safe_path
from braintwin.io.limits import reading
from braintwin.io.nifti import is_nifti_name, load_nifti
from braintwin.io.sequence import modality_from_name
from braintwin.types import Modality, Volume, check_labels

__all__ = ["VisitImages", "read_visit_images"]

_ACCEPTED = (*Modality.mri(), Modality.SEG)
_SIDECARS = (".json", ".txt", ".csv", ".tsv", ".md", ".bval", ".bvec", ".xml", ".pdf", ".png",
             ".jpg", ".jpeg", ".html", ".zip")  # fmt: skip
_MAX_DEPTH = 5  # PACS exports nest series as PATIENT/STUDY/SERIES/files


@dataclass
class VisitImages:
    """The images of one visit as read from disk.

    Attributes:
        volumes: MRI volumes by modality, each on its native grid (RAS+ affine, mm).
        segmentation: BraTS label volume (``*_seg``), if the input has one.
        sources: de-identified descriptions, e.g. ``"nifti:t1ce"``, ``"dicom:t2:24 slices"``.
        digest: sha256 over the sorted sha256s of the source files' bytes (names ignored).
        study_date: DICOM StudyDate (original, in memory only), if any.
        patient_key: DICOM PatientID (original, in memory only), if any.
        headers: de-identified DICOM header summaries by modality.
        warnings: non-identifying notes (skipped files, header oddities).
    """

    volumes: dict[Modality, Volume]
    segmentation: Volume | None
    sources: list[str]
    digest: str
    study_date: dt.date | None = None
    patient_key: str | None = None
    headers: dict[Modality, dict[str, str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Source:
    kind: str  # "nifti" | "dicom"
    path: Path
    name: str  # relative to the input path; for the user's overrides and error messages only
    files: list[Path]
    series: DicomSeries | None = None


def _is_dicom_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if head[128:132] == b"DICM":
        return True
    import pydicom

    try:  # files without the 128-byte preamble (old or raw exports)
        pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # a probe: whatever a parser raises on junk bytes means "not DICOM"
        return False
    return True


def _scan(top: Path, root: Path | None) -> list[_Source]:
    sources: list[_Source] = []

    def walk(folder: Path, depth: int) -> None:
        entries = sorted(
            p
            for p in folder.iterdir()
            if not p.name.startswith(".") and p.name.upper() != "DICOMDIR"
        )
        if root is not None:
            for p in entries:
                if p.is_symlink():
                    safe_path(p, root)  # refuses links that lead outside the data folder
        files = [p for p in entries if p.is_file()]
        nifti = [p for p in files if is_nifti_name(p)]
        others = [
            p for p in files if not is_nifti_name(p) and not p.name.lower().endswith(_SIDECARS)
        ]
        for p in nifti:
            sources.append(_Source("nifti", p, str(p.relative_to(top)), [p]))
        if others and any(_is_dicom_file(p) for p in others[:3] + others[-1:]):
            name = folder.name if folder == top else str(folder.relative_to(top))
            sources.append(_Source("dicom", folder, name, others))
        if depth < _MAX_DEPTH:
            for sub in (p for p in entries if p.is_dir()):
                walk(sub, depth + 1)

    walk(top, 0)
    return sources


def _stem(name: str) -> str:
    base = Path(name).name
    lower = base.lower()
    for suffix in (".nii.gz", ".nii"):
        if lower.endswith(suffix):
            return base[: -len(suffix)]
    return base


def _as_modality(value: Modality | str) -> Modality:
    try:
        return Modality(str(value).strip().lower())
    except ValueError:
        raise InputError(
            f"unknown modality {value!r}", "use one of t1, t1ce, t2, flair, seg"
        ) from None


def _override(src: _Source, modalities: Mapping[str, Modality | str]) -> Modality | None:
    keys = {src.name.lower(), Path(src.name).name.lower(), _stem(src.name).lower()}
    for key, value in modalities.items():
        if key.strip().lower().rstrip("/") in keys:
            return _as_modality(value)
    return None


def _guess(src: _Source) -> Modality | None:
    if src.series is not None and src.series.modality is not None:
        return src.series.modality
    return modality_from_name(Path(src.name).name)


def _assign(
    sources: list[_Source],
    modalities: Mapping[str, Modality | str] | None,
    modality: Modality | str | None,
) -> list[Modality]:
    if modalities:
        unmatched = [
            k for k in modalities if not any(_override(s, {k: Modality.OTHER}) for s in sources)
        ]
        if unmatched:
            raise InputError(
                f"--modality name(s) {unmatched} match no input",
                f"inputs are: {', '.join(s.name for s in sources)}",
            )
    if modality is not None and len(sources) != 1:
        raise InputError(
            f"one --modality given for {len(sources)} inputs",
            "name each: --modality FILE=t1ce (one per file or series)",
        )
    chosen: list[Modality | None] = []
    for src in sources:
        m = _as_modality(modality) if modality is not None else None
        m = m or (_override(src, modalities) if modalities else None) or _guess(src)
        chosen.append(m)
    unknown = [s for s, m in zip(sources, chosen, strict=True) if m is None]
    if unknown:
        listing = "; ".join(
            f"{s.name}: {'?' if m is None else m.value}"
            for s, m in zip(sources, chosen, strict=True)
        )
        raise InputError(
            f"cannot tell the MRI sequence of {len(unknown)} input(s) (guesses: {listing})",
            "name each one with --modality FILE=SEQUENCE, SEQUENCE one of t1, t1ce, t2, flair, "
            "seg; or rename the files like CASE_t1ce.nii.gz",
        )
    result = [m for m in chosen if m is not None]
    for src, m in zip(sources, result, strict=True):
        if m not in _ACCEPTED:
            raise InputError(
                f"{src.name}: modality {m.value!r} is not an input sequence",
                "use t1, t1ce, t2, flair or seg",
            )
    for m in set(result):
        claim = [s.name for s, x in zip(sources, result, strict=True) if x is m]
        if len(claim) > 1:
            shown = ", ".join(claim[:4]) + (f" and {len(claim) - 4} more" if len(claim) > 4 else "")
            raise InputError(
                f"{len(claim)} inputs claim {m.value}: {shown}",
                "give one file or series per sequence (one visit), or set --modality FILE=... "
                "for each",
            )
    return result


def _digest(files: list[Path]) -> str:
    per_file = []
    for path in files:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        per_file.append(h.hexdigest())
    return hashlib.sha256("\n".join(sorted(per_file)).encode()).hexdigest()


def read_visit_images(
    path: str | os.PathLike[str],
    *,
    modalities: Mapping[str, Modality | str] | None = None,
    modality: Modality | str | None = None,
    root: str | os.PathLike[str] | None = None,
    secret: bytes | None = None,
    progress: Callable[[str, float], None] | None = None,
    spacing: tuple[float, float, float] | None = None,
) -> VisitImages:
    """Read all images of one visit (see the module docstring for accepted layouts).

    Args:
        path: a NIfTI file or a folder.
        modalities: overrides by file name, file stem or series folder name.
        modality: the modality of a single-image input.
        root: if given, ``path`` (and every file read, symlinks resolved) must lie inside it.
        secret: key for DICOM de-identification (``braintwin.deid.load_or_create_secret``).
        progress: callback ``(message, fraction 0..1)``, called once per image read.
        spacing: voxel size (mm) to use instead of the headers' for every image of the visit
            (``ingest --spacing``), for files whose header lies about it.
    """
    with reading(Path(path).name or "the input", "check the files and re-export them"):
        return _read_visit(path, modalities, modality, root, secret, progress, spacing)


def _read_visit(
    path: str | os.PathLike[str],
    modalities: Mapping[str, Modality | str] | None,
    modality: Modality | str | None,
    root: str | os.PathLike[str] | None,
    secret: bytes | None,
    progress: Callable[[str, float], None] | None,
    spacing: tuple[float, float, float] | None,
) -> VisitImages:
    root_path = Path(root).resolve() if root is not None else None
    top = safe_path(path, root_path) if root_path is not None else Path(path)
    if not top.exists():
        raise InputError(f"not found: {top}", "check the path and spelling")
    if top.is_file():
        if not is_nifti_name(top):
            if _is_dicom_file(top):
                raise InputError(
                    "a single DICOM file is one slice", "give the folder holding the whole series"
                )
            raise InputError(f"{top.name} is neither a NIfTI file nor a DICOM folder")
        sources = [_Source("nifti", top, top.name, [top])]
    else:
        sources = _scan(top, root_path)
        if not sources:
            raise InputError(
                f"no NIfTI files or DICOM series found in {top.name}",
                "give a .nii/.nii.gz file, a BraTS case folder or a DICOM series folder",
            )
    # one key for the whole visit, so the series of a study keep a common remapped StudyUID
    key = secret if secret is not None else secrets.token_bytes(32)
    warnings: list[str] = []
    kept: list[_Source] = []
    for n, src in enumerate(sources):
        if progress is not None:
            progress(f"reading image {n + 1} of {len(sources)}", 0.9 * n / len(sources))
        if src.kind == "dicom":
            datasets, skipped = read_dicom_files(src.path)
            if not datasets:  # only reports, presentation states, …: nothing to image
                warnings.append(f"ignored a folder of {skipped} non-image DICOM file(s)")
                continue
            src.series = series_from_datasets(datasets, skipped, src.path, True, key)
        kept.append(src)
    if not kept:
        raise InputError(
            f"no images found in {top.name}: its DICOM files hold no pixel data",
            "give the folder of the image series",
        )
    sources = kept
    assigned = _assign(sources, modalities, modality)

    volumes: dict[Modality, Volume] = {}
    segmentation: Volume | None = None
    descriptions: list[str] = []
    headers: dict[Modality, dict[str, str]] = {}
    for src, m in zip(sources, assigned, strict=True):
        if src.series is not None:
            vol = src.series.volume
            vol = Volume(vol.data, vol.affine, m, dict(vol.meta))
            headers[m] = src.series.header
            warnings += [f"{m.value}: {w}" for w in src.series.warnings]
            descriptions.append(f"dicom:{m.value}:{vol.shape[2]} slices")
        else:
            vol = load_nifti(src.path, m)
            warnings += [f"{m.value}: {w}" for w in vol.meta.get("warnings", [])]
            descriptions.append(f"nifti:{m.value}")
        if spacing is not None:
            vol = vol.with_spacing(spacing)
        if m is Modality.SEG:
            check_labels(vol.data)
            segmentation = vol.with_data(np.rint(vol.data).astype(np.uint8))
        else:
            volumes[m] = vol
    if (
        segmentation is not None
        and volumes
        and not any(segmentation.same_grid(v) for v in volumes.values())
    ):
        raise InputError(
            "the segmentation is not on the grid of any image of the visit",
            "give the label file that belongs to these images (same shape and affine)",
        )
    check_head_extent(volumes, overridden=spacing is not None)
    check_fields_of_view(volumes)

    series = [s.series for s in sources if s.series is not None]
    keys = {s.patient_key for s in series if s.patient_key}
    if len(keys) > 1:
        raise InputError(
            f"the DICOM series belong to {len(keys)} different patients (PatientID differs)",
            "ingest each patient's series separately",
        )
    dates = [s.study_date for s in series if s.study_date is not None]
    files = [f for s in sources for f in s.files]
    if progress is not None:
        progress("hashing source files", 0.95)
    return VisitImages(
        volumes=volumes,
        segmentation=segmentation,
        sources=descriptions,
        digest=_digest(files),
        study_date=min(dates) if dates else None,
        patient_key=next(iter(keys)) if keys else None,
        headers=headers,
        warnings=warnings,
    )
