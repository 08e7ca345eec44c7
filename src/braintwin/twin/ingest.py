"""Turn a folder or file of patient images into a preprocessed, de-identified ``Visit``.

Everything is computed in memory first; the caller writes the finished visit to the store in
one atomic step, so a failure at any stage leaves the twin exactly as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.errors import InputError
from braintwin.io.dicom_refs import dicom_record
from braintwin.types import Modality, Visit, Volume, check_labels

__all__ = [
    "IngestOptions",
    "PreparedVisit",
    "check_visit_date",
    "expert_labels",
    "labels_onto_visit",
    "prepare_visit",
    "segment_into",
    "set_segmentation",
]

Progress = Callable[[str, float], None]


@dataclass
class IngestOptions:
    """What to do with a new visit besides preprocessing.

    Attributes:
        modalities: per-source modality overrides (file or series name -> modality).
        modality: one modality for a single-image source.
        root: data folder the source must lie inside (refuses paths that escape it).
        spacing_mm: isotropic resampling target (mm).
        n4: run N4 bias-field correction.
        segment: segmentation method name, or ``None`` to skip segmentation.
        classify: after storing, classify the tumour type from the visit's slices.
        update_model: after storing a segmented visit, calibrate / assimilate the growth model
            and forecast (see :mod:`braintwin.twin.model`).
        spacing_override: voxel size (mm) replacing the headers' (``--spacing``), for files
            whose header lies about it; never applied without being asked.
        segmentation: an expert or corrected label file (BraTS labels, or a binary mask) on
            the grid of one of the visit's images (``--seg``); it replaces the network.
    """

    modalities: dict[str, Modality] | None = None
    modality: Modality | None = None
    root: Path | None = None
    spacing_mm: float = 1.0
    n4: bool = True
    segment: str | None = "unet"
    update_model: bool = True
    classify: bool = True
    spacing_override: tuple[float, float, float] | None = None
    segmentation: Path | None = None


@dataclass
class PreparedVisit:
    """A visit ready to be stored, plus what happened while preparing it."""

    visit: Visit
    digest: str
    real_date: dt.date
    flags: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)


EARLIEST_VISIT = dt.date(1900, 1, 1)


def check_visit_date(date: dt.date, *, today: dt.date | None = None) -> dt.date:
    """Refuse a real visit date in the future or before 1900 (a typo or a broken header)."""
    today = today or dt.date.today()
    if date > today:
        raise InputError(
            f"the visit date {date} is in the future", "give the real date of the scan (--date)"
        )
    if date < EARLIEST_VISIT:
        raise InputError(
            f"the visit date {date} is before {EARLIEST_VISIT.year}",
            "check --date (or the DICOM StudyDate) for a typo",
        )
    return date


def _step(progress: Progress | None, message: str, fraction: float) -> None:
    if progress is not None:
        progress(message, fraction)


def prepare_visit(
    source: Path,
    *,
    images: Any = None,
    date: dt.date | None,
    date_offset_days: int,
    reference: Volume | None = None,
    options: IngestOptions | None = None,
    progress: Progress | None = None,
) -> PreparedVisit:
    """Read, de-identify, preprocess and (optionally) segment one visit, without storing it.

    Args:
        source: a NIfTI file, BraTS case folder, folder of NIfTI files or DICOM series folder.
        date: the real visit date; taken from the DICOM StudyDate when ``None``.
        date_offset_days: the patient's secret date shift (days), applied before storing.
        images: already-read ``VisitImages`` of ``source`` (read here when ``None``).
        reference: the first visit's reference volume; later visits are registered to it.
        options: see :class:`IngestOptions`.
        progress: callback ``(message, fraction 0..1)``.
    """
    import time

    from braintwin.io import read_visit_images
    from braintwin.preprocess import PreprocessOptions, apply_transform, preprocess_visit

    opts = options or IngestOptions()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    _step(progress, "reading images", 0.0)
    if images is None:
        images = read_visit_images(
            Path(source),
            modalities=opts.modalities,
            modality=opts.modality,
            root=opts.root,
            spacing=opts.spacing_override,
        )
    timings["read"] = time.perf_counter() - t0
    real_date = date or images.study_date
    if real_date is None:
        raise InputError(
            "the visit has no date", "pass --date YYYY-MM-DD (DICOM input takes the StudyDate)"
        )
    check_visit_date(real_date)
    if not images.volumes:
        raise InputError("no MRI volume found in the input", "give T1, T1ce, T2 and/or FLAIR")

    t1 = time.perf_counter()
    pre = preprocess_visit(
        images.volumes,
        reference=reference,
        options=PreprocessOptions(spacing=(opts.spacing_mm,) * 3, n4=opts.n4),
        progress=(lambda m, f: _step(progress, m, 0.1 + 0.6 * f)) if progress else None,
    )
    timings["preprocess"] = time.perf_counter() - t1

    extras: dict[str, Volume] = {}
    # what preprocessing wants the user to see (atlas mask fallback, constant background, …)
    flags: list[str] = list(pre.flags)
    if images.segmentation is not None:
        check_labels(images.segmentation.data)
        seg = images.segmentation.with_data(
            np.rint(images.segmentation.data).astype(np.uint8), Modality.SEG
        )
        matrix = _transform_of(pre.transforms, _seg_partner(images.volumes))
        extras["reference_seg"] = apply_transform(seg, matrix, pre.brain_mask)

    visit = Visit(
        date=real_date + dt.timedelta(days=date_offset_days),
        volumes=dict(pre.volumes),
        brain_mask=pre.brain_mask,
        extras=extras,
        meta={
            "sources": list(images.sources),
            "transforms": pre.transforms,
            "date_shifted": True,
        },
    )
    record = dicom_record(images.headers, images.volumes)
    if record is not None:  # the remapped study / series / instance UIDs, for results to PACS
        visit.meta["dicom"] = record
    for vol in visit.volumes.values():  # per-slice UIDs name the acquired grid, not this one
        vol.meta.pop("instance_uids", None)
        vol.meta.pop("sop_class_uid", None)

    if opts.segmentation is not None:
        _step(progress, "reading the given segmentation", 0.75)
        seg = expert_labels(opts.segmentation, opts)
        set_segmentation(visit, labels_onto_visit(seg, visit), "expert")
    elif opts.segment:
        t2 = time.perf_counter()
        _step(progress, f"segmenting ({opts.segment})", 0.75)
        flags += segment_into(visit, opts.segment)
        timings["segment"] = time.perf_counter() - t2
    _step(progress, "ready to store", 0.95)
    timings["total"] = time.perf_counter() - t0
    visit.meta["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    return PreparedVisit(visit, images.digest, real_date, flags, timings)


def _seg_partner(volumes: dict[Modality, Volume]) -> Modality:
    """The modality whose native grid an accompanying label file shares (BraTS: all of them)."""
    for m in (Modality.T1CE, Modality.FLAIR, Modality.T1, Modality.T2):
        if m in volumes:
            return m
    return next(iter(volumes))


def _transform_of(transforms: dict[str, Any], modality: Modality) -> Any:
    """The native-world -> visit-grid-world matrix recorded for ``modality``."""
    return np.asarray(transforms["modalities"][modality.value]["matrix"], dtype=float)


def segment_into(visit: Visit, method: str, *, uncertainty: bool = False) -> list[str]:
    """Segment ``visit`` in place (labels, measurements, uncertainty); return the flags."""
    from braintwin.segment import segment_volumes

    result = segment_volumes(
        visit.volumes, brain_mask=visit.brain_mask, method=method, uncertainty=uncertainty
    )
    if result.uncertainty is not None:
        visit.extras["uncertainty"] = result.uncertainty
    set_segmentation(visit, result.labels, method, flags=list(result.flags))
    return list(result.flags)


def set_segmentation(
    visit: Visit, labels: Volume, method: str, *, flags: list[str] | None = None
) -> None:
    """Make ``labels`` the visit's segmentation: measurements, method, flags and fingerprint.

    The fingerprint lets the model notice that a visit it was calibrated on changed.
    """
    from braintwin.measure import measure_segmentation
    from braintwin.twin.model import segmentation_fingerprint

    visit.segmentation = labels
    visit.measurements = _jsonable(measure_segmentation(labels))
    visit.meta["segmentation"] = {
        "method": method,
        "flags": list(flags or []),
        "fingerprint": segmentation_fingerprint(labels),
        "observable_regions": list(labels.meta.get("observable_regions") or ["WT", "TC", "ET"]),
    }


def expert_labels(path: Path, options: IngestOptions | None = None) -> Volume:
    """Read an expert or corrected label file: BraTS labels {0, 1, 2, 4}, or a binary mask.

    A binary mask (values {0, 1} or {0, 255}) is read as enhancing tumour (label 4), the
    convention of enhancing-tumour masks such as TCIA Brain-Tumor-Progression's.
    """
    from braintwin.io import load_nifti

    opts = options or IngestOptions()
    path = Path(path)
    if opts.root is not None:
        from braintwin.io import safe_path

        path = safe_path(path, Path(opts.root).resolve())
    vol = load_nifti(path, Modality.SEG)
    if opts.spacing_override is not None:
        vol = vol.with_spacing(opts.spacing_override)
    values = set(np.unique(vol.data).tolist())
    if values <= {0, 1} or values <= {0, 255}:
        data = (np.asarray(vol.data) > 0).astype(np.uint8) * np.uint8(4)
    else:
        check_labels(vol.data)
        data = np.rint(vol.data).astype(np.uint8)
    if not np.any(data):
        raise InputError(
            f"the segmentation {path.name} is empty (no tumour label)",
            "give a label file with tumour voxels, or omit --seg to segment with the network",
        )
    return vol.with_data(data, Modality.SEG)


def labels_onto_visit(seg: Volume, visit: Visit) -> Volume:
    """Bring a label volume onto the visit's preprocessed grid (nearest neighbour).

    Accepts labels on that grid already (e.g. exported in twin space) or on the native grid of
    one of the visit's input images (as an expert draws them on the scanner images).
    """
    from braintwin.preprocess import apply_transform

    ref = visit.brain_mask if visit.brain_mask is not None else next(iter(visit.volumes.values()))
    if seg.same_grid(ref, atol=1e-2):
        return seg
    for entry in (visit.meta.get("transforms") or {}).get("modalities", {}).values():
        native = np.asarray(entry["native_affine"], float)
        if tuple(seg.shape) == tuple(entry["native_shape"]) and np.allclose(
            seg.affine, native, atol=1e-2
        ):
            moved = apply_transform(seg, np.asarray(entry["matrix"], float), ref)
            return moved.with_data(np.asarray(moved.data).astype(np.uint8), Modality.SEG)
    raise InputError(
        "the segmentation is on neither the grid of the visit's images nor the twin's grid",
        "give the label file drawn on one of this visit's images (same shape and affine)",
    )


def _jsonable(measurements: dict[str, Any]) -> dict[str, Any]:
    return {str(region): m.to_dict() for region, m in measurements.items()}
