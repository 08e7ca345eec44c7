"""Read one subject of a BIDS raw dataset as a list of visits (one session = one visit).

Accepted: a dataset root (``dataset_description.json`` and ``sub-*`` folders; ``subject``
picks one when there are several), a ``sub-*`` folder, or one ``sub-*/ses-*`` folder (its
``anat`` folder works too). A subject without ``ses-*`` folders is one visit (``sub-X/anat``).
Only ``anat/*_{T1w,T2w,FLAIR}.nii[.gz]`` are read (see :mod:`braintwin.io.bids_names` for
which ``T1w`` counts as T1ce).

Dates, first found wins: ``sub-X_sessions.tsv`` (``acq_time``), then the session's
``*_scans.tsv`` (``acq_time`` of the images used), then the sidecars' ``AcquisitionDateTime``.
Everything is checked before anything is returned, so a caller can refuse the whole dataset
before storing any of it. Messages name sessions and files without the ``sub-`` label (which
may be an identifier); only the list of subjects, asked for by name, shows labels.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from braintwin.errors import InputError
from braintwin.io.bids_dates import session_date
from braintwin.io.bids_names import BidsName, bids_modality, parse_bids_name, sidecar_for
from braintwin.io.guards import safe_path
from braintwin.types import Modality

__all__ = ["BidsSession", "BidsSubject", "is_bids_input", "read_bids_subject"]


@dataclass
class BidsSession:
    """One session (visit) of a subject.

    Attributes:
        name: ``"ses-<label>"``, or ``"anat"`` for a subject without sessions.
        images: the chosen image per sequence.
        date: the real acquisition date (in memory only), or None when the data has none.
        date_source: where ``date`` came from (``"sessions.tsv"``, ``"scans.tsv"``, ``"sidecar"``).
        segmentation: the session's ``*_dseg`` from the requested derivatives pipeline.
        warnings: non-identifying notes (skipped files, sidecar/header disagreements).
    """

    name: str
    images: dict[Modality, Path]
    date: dt.date | None = None
    date_source: str = ""
    segmentation: Path | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class BidsSubject:
    """The sessions of one subject, in date order (undated ones last, by label)."""

    sessions: list[BidsSession]
    dataset_root: Path | None


def _is_entity_dir(p: Path, key: str) -> bool:
    return p.is_dir() and p.name.startswith(f"{key}-") and len(p.name) > len(key) + 1


def is_bids_input(path: str | os.PathLike[str]) -> bool:
    """True for a BIDS dataset root, a ``sub-*`` folder, or a ``sub-*/ses-*`` (``/anat``) folder."""
    p = Path(path)
    if not p.is_dir():
        return False
    if (p / "dataset_description.json").is_file():
        return True
    if p.name == "anat":
        p = p.parent
    if _is_entity_dir(p, "sub"):
        return True
    if _is_entity_dir(p, "ses") and _is_entity_dir(p.parent, "sub"):
        return True
    return any(_is_entity_dir(c, "sub") for c in p.iterdir())


def _label(value: str, key: str) -> str:
    return value[len(key) + 1 :] if value.startswith(f"{key}-") else value


def _pick_subject(root: Path, subject: str | None) -> Path:
    subs = sorted(c for c in root.iterdir() if _is_entity_dir(c, "sub"))
    labels = [_label(s.name, "sub") for s in subs]
    if not subs:
        raise InputError("the BIDS dataset has no sub-* folder", "give a BIDS dataset root")
    if subject is not None:
        want = _label(subject.strip(), "sub")
        if want not in labels:
            raise InputError(
                f"no subject {want!r} in the BIDS dataset", f"subjects: {', '.join(labels)}"
            )
        return subs[labels.index(want)]
    if len(subs) > 1:
        raise InputError(
            f"the BIDS dataset has {len(subs)} subjects",
            f"pick one with --subject: {', '.join(labels)}",
        )
    return subs[0]


def _resolve(path: Path, subject: str | None) -> tuple[Path | None, Path, Path | None]:
    """(dataset root or None, subject folder, one session folder or None)."""
    if path.name == "anat" and (
        _is_entity_dir(path.parent, "sub") or _is_entity_dir(path.parent, "ses")
    ):
        path = path.parent
    if _is_entity_dir(path, "ses") and _is_entity_dir(path.parent, "sub"):
        sub, ses = path.parent, path
    elif _is_entity_dir(path, "sub"):
        sub, ses = path, None
    else:
        return path, _pick_subject(path, subject), None
    if subject is not None and _label(subject.strip(), "sub") != _label(sub.name, "sub"):
        raise InputError("--subject names another subject than the folder given", "drop --subject")
    root = sub.parent if (sub.parent / "dataset_description.json").is_file() else None
    return root, sub, ses


def _header_check(
    path: Path, meta: dict[str, Any], what: str, spacing: tuple[float, float, float] | None
) -> list[str]:
    """Warn when the sidecar's slice thickness matches none of the header's voxel sizes (a
    header that lies about the voxel size corrupts every measurement; --spacing fixes it)."""
    thick = meta.get("SliceThickness") or meta.get("SpacingBetweenSlices")
    if not isinstance(thick, int | float) or thick <= 0:
        return []
    import nibabel as nib

    try:
        header: Any = nib.load(str(path)).header
        zooms = list(spacing or [float(z) for z in header.get_zooms()[:3]])
    except Exception:  # unreadable headers are reported by the NIfTI reader later
        return []
    if any(abs(z - thick) <= max(0.1, 0.1 * thick) for z in zooms):
        return []
    shown = " x ".join(f"{z:g}" for z in zooms)
    told = "--spacing" if spacing else "the header's voxel"
    return [
        f"{what}: the sidecar says {thick:g} mm slices but {told} is {shown} mm; "
        "if the header is wrong, re-run with --spacing"
    ]


@dataclass
class _Found:
    name: BidsName
    path: Path
    modality: Modality
    forced: bool  # named by a --modality override
    meta: dict[str, Any]


def _match(name: BidsName, path: Path, overrides: Mapping[str, Modality]) -> Modality | None:
    keys = {path.name.lower(), path.name[: -len(name.extension)].lower(), name.short().lower()}
    for key, value in overrides.items():
        if key.strip().lower() in keys:
            return Modality(value)
    return None


def _choose(session: str, found: list[_Found], run: int | None) -> list[_Found]:
    chosen: list[_Found] = []
    for m in Modality.mri():
        claim = [x for x in found if x.modality is m]
        if not claim:
            continue
        if any(x.forced for x in claim):  # a --modality override wins over the names
            claim = [x for x in claim if x.forced]
        if len(claim) > 1 and run is not None:
            claim = [x for x in claim if (x.name.get("run") or "").lstrip("0") == str(run)]
        if len(claim) > 1:
            shown = ", ".join(sorted(x.name.short() for x in claim))
            raise InputError(
                f"{session} has {len(claim)} {m.value} images ({shown})",
                "pick one with --run N, or name it with --modality FILE=" + m.value,
            )
        if not claim:
            raise InputError(f"{session} has no {m.value} image with run {run}", "check --run")
        chosen.append(claim[0])
    return chosen


def _read_session(
    folder: Path, sub: Path, root: Path | None, overrides: Mapping[str, Modality],
    run: int | None, guard: Path | None, used: set[str],
    spacing: tuple[float, float, float] | None,
) -> BidsSession:  # fmt: skip
    is_ses = _is_entity_dir(folder, "ses")
    name = folder.name if is_ses else "anat"
    anat = folder / "anat"
    if not anat.is_dir():
        raise InputError(f"{name} has no anat folder", "BIDS keeps structural MRI in anat/")
    levels = [p for p in (root, sub, folder if is_ses else None, anat) if p is not None]
    found: list[_Found] = []
    warnings: list[str] = []
    skipped = 0
    for p in sorted(anat.iterdir()):
        if guard is not None:
            safe_path(p, guard)  # refuses files or links leading outside --root
        parsed = parse_bids_name(p.name) if p.is_file() else None
        if parsed is None or parsed.extension not in (".nii", ".nii.gz"):
            continue
        meta = sidecar_for(p, levels)
        forced = _match(parsed, p, overrides)
        if forced is not None:
            used.update(k for k in overrides if _match(parsed, p, {k: overrides[k]}))
        m = forced or bids_modality(parsed, meta)
        if m is None:
            skipped += 1
            continue
        found.append(_Found(parsed, p, m, forced is not None, meta))
    if skipped:
        warnings.append(f"{name}: skipped {skipped} image(s) that are not T1w, T2w or FLAIR")
    if not found:
        raise InputError(
            f"{name} has no T1w, T2w or FLAIR image in anat/",
            "give sessions with structural MRI (*_T1w, *_ce-<agent>_T1w, *_T2w, *_FLAIR)",
        )
    chosen = _choose(name, found, run)
    images = {x.modality: x.path for x in chosen}
    metas = {x.modality: x.meta for x in chosen}
    for x in chosen:
        warnings += _header_check(x.path, x.meta, f"{name} {x.modality.value}", spacing)
    return BidsSession(
        name, images, warnings=warnings, **session_date(folder, sub, name, images, metas)
    )


def _derivative_seg(
    root: Path | None, sub: Path, folder: Path, name: str, pipeline: str, guard: Path | None
) -> Path:
    base = (root or sub.parent) / "derivatives" / pipeline / sub.name
    anat = (base / folder.name if name != "anat" else base) / "anat"
    segs = (
        sorted(anat.glob("*_dseg.nii.gz")) + sorted(anat.glob("*_dseg.nii"))
        if anat.is_dir()
        else []
    )
    if len(segs) > 1:  # several label sets: the one described as the tumour segmentation
        segs = [p for p in segs if "_desc-tumor_" in p.name] or segs
    if len(segs) != 1:
        raise InputError(
            f"{name}: {'no' if not segs else len(segs)} *_dseg image(s) in derivatives/{pipeline}",
            "give one *_dseg.nii.gz (or one *_desc-tumor_dseg.nii.gz) per session there, "
            "or drop --seg-from",
        )
    return safe_path(segs[0], guard) if guard is not None else segs[0]


def read_bids_subject(
    path: str | os.PathLike[str],
    *,
    subject: str | None = None,
    session: str | None = None,
    run: int | None = None,
    modalities: Mapping[str, Modality] | None = None,
    root: str | os.PathLike[str] | None = None,
    seg_pipeline: str | None = None,
    spacing: tuple[float, float, float] | None = None,
) -> BidsSubject:
    """Read and check every session of one subject (see the module docstring).

    Args:
        path: dataset root, ``sub-*`` folder or ``sub-*/ses-*`` folder.
        subject, session: pick one subject / session (with or without the ``sub-``/``ses-``).
        run: the run to use where a session has several images of one sequence.
        modalities: ``FILE=SEQUENCE`` overrides (file name, stem or name without ``sub-``/
            ``ses-``); a named file wins over the others claiming that sequence.
        root: every file read must lie inside this folder (symlinks resolved).
        seg_pipeline: take each session's ``*_dseg`` from ``derivatives/<pipeline>``.
        spacing: the voxel size the user declared (``--spacing``), checked against the
            sidecars' slice thickness instead of the headers'.
    """
    if seg_pipeline is not None and (
        not seg_pipeline.strip() or Path(seg_pipeline).name != seg_pipeline or seg_pipeline == ".."
    ):
        raise InputError(
            f"--seg-from {seg_pipeline!r} is not a pipeline folder name",
            "give the name of a folder under derivatives/, e.g. --seg-from manual",
        )
    guard = Path(root).resolve() if root is not None else None
    top = safe_path(path, guard) if guard is not None else Path(path)
    if not top.is_dir():
        raise InputError(
            f"not a BIDS folder: {top.name}", "give a dataset root, sub-* or ses-* folder"
        )
    ds_root, sub, one = _resolve(top, subject)
    if one is not None:
        folders = [one]
    else:
        folders = sorted(c for c in sub.iterdir() if _is_entity_dir(c, "ses")) or [sub]
    if session is not None:
        want = "ses-" + _label(session.strip(), "ses")
        picked = [f for f in folders if f.name == want]
        if not picked:
            labels = ", ".join(_label(f.name, "ses") for f in folders if f.name.startswith("ses-"))
            raise InputError(
                f"no session {want}", f"sessions: {labels or 'none (no ses-* folders)'}"
            )
        folders = picked
    overrides = dict(modalities or {})
    used: set[str] = set()
    sessions = []
    for folder in folders:
        s = _read_session(folder, sub, ds_root, overrides, run, guard, used, spacing)
        if seg_pipeline is not None:
            s.segmentation = _derivative_seg(ds_root, sub, folder, s.name, seg_pipeline, guard)
        sessions.append(s)
    unused = sorted(set(overrides) - used)
    if unused:
        raise InputError(
            f"--modality name(s) {unused} match no BIDS image", "use the image's file name"
        )
    sessions.sort(key=lambda s: (s.date is None, s.date or dt.date.min, s.name))
    return BidsSubject(sessions, ds_root)
