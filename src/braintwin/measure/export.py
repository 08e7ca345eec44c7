"""Write a visit's segmentation outputs: NIfTI, DICOM SEG, region meshes, measurement tables.

This is the one place that combines measurement with file writers, for the CLI and the twin
(``braintwin measure`` / ``export``); the writers themselves live in :mod:`braintwin.io` and
are imported only when a format asks for them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from braintwin.errors import InputError
from braintwin.measure.regions import measure_segmentation
from braintwin.measure.tables import measurements_table, write_table
from braintwin.types import Modality, Region, Volume, check_labels, region_mask

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = ["EXPORT_FORMATS", "export_segmentation_outputs"]

EXPORT_FORMATS = ("nifti", "dicom-seg", "stl", "obj", "csv", "json", "radiomics")
MESH_REGIONS = (Region.WT, Region.TC, Region.ET)


def export_segmentation_outputs(
    seg: Volume,
    reference: Volume | Sequence[Dataset] | None,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("nifti", "dicom-seg", "stl", "csv"),
    mesh_regions: Sequence[Region | str] = MESH_REGIONS,
    smooth_sigma_vox: float = 0.5,
    manual: bool = False,
    images: Mapping[Modality, Volume] | None = None,
    patient_id: str = "ANONYMOUS",
    study_date: dt.date | None = None,
) -> list[Path]:
    """Write the chosen outputs of one segmentation into ``out_dir``; return the paths.

    Files (names carry no identifiers): ``segmentation.nii.gz``, ``segmentation_seg.dcm``,
    ``<region>.stl`` / ``.obj`` (world RAS mm; empty regions skipped),
    ``measurements.csv`` / ``.json`` (one row per region, see :func:`measure_segmentation`),
    ``radiomics.csv`` (one row per modality × region; needs ``images``).

    Args:
        seg: BraTS label Volume.
        reference: source DICOM datasets or reference Volume for the SEG (see
            :func:`braintwin.io.dicomseg.save_dicom_seg`); None synthesises one.
        out_dir: destination folder (created).
        formats: any of ``EXPORT_FORMATS``.
        mesh_regions: regions to mesh.
        smooth_sigma_vox: light Gaussian smoothing before meshing (voxels).
        manual: the labels are an expert's (DICOM SEG algorithm type MANUAL).
        images: modality -> image on the grid of ``seg``, for the "radiomics" format.
        patient_id: the braintwin pseudonym written as patient name and ID of a synthesised
            DICOM reference (never a real identifier).
        study_date: the visit's shifted date for the DICOM SEG's study/series dates.
    """
    bad = sorted(set(formats) - set(EXPORT_FORMATS))
    if bad:
        raise InputError(f"unknown export format(s) {bad}", f"choose from {list(EXPORT_FORMATS)}")
    if "radiomics" in formats and not images:
        raise InputError("radiomics export needs the images", "pass images={modality: Volume}")
    check_labels(seg.data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "nifti" in formats:
        from braintwin.io.nifti import save_nifti

        written.append(save_nifti(seg, out / "segmentation.nii.gz"))
    if "dicom-seg" in formats:
        from braintwin.io.dicomseg import save_dicom_seg

        written.append(
            save_dicom_seg(
                seg,
                reference,
                out / "segmentation_seg.dcm",
                manual=manual,
                patient_id=patient_id,
                study_date=study_date,
            )
        )
    for suffix in ("stl", "obj"):
        if suffix not in formats:
            continue
        from braintwin.io.mesh import region_mesh, save_mesh

        for region in mesh_regions:
            name = Region(region).value
            if not region_mask(seg.data, name).any():
                continue
            verts, faces = region_mesh(seg, name, smooth_sigma_vox=smooth_sigma_vox)
            written.append(save_mesh(verts, faces, out / f"{name}.{suffix}"))
    tables = [s for s in ("csv", "json") if s in formats]
    if tables:
        rows = measurements_table(measure_segmentation(seg))
        written += [write_table(rows, out / f"measurements.{s}") for s in tables]
    if "radiomics" in formats and images:
        from braintwin.measure.radiomics import radiomics_table

        written.append(write_table(radiomics_table(images, seg), out / "radiomics.csv"))
    return written
