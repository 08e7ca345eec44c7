"""Seed inputs for the reader fuzzer, made from the shipped demo case.

Seeds are small on purpose (a 48 x 48 x 32 crop, a 6-slice DICOM series of 40 x 40 pixels,
64 x 64 pixel images) so that thousands of mutants read in minutes; the mutations, not the
seed size, create the hostile cases (lying dimensions ask for gigabytes from a few kilobytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from braintwin.packaged import data_path
from braintwin.types import Modality, Volume

__all__ = ["Seeds", "make_seeds"]

_DEMO_CASE = "Brats18_2013_3_1"


@dataclass(frozen=True)
class Seeds:
    """Paths of the seed files (all inside one folder)."""

    nifti: Path  # .nii, int16, sform + qform
    nifti_scaled: Path  # .nii, float32 with scl_slope/inter
    nifti2: Path  # .nii, NIfTI-2 header, int16
    dicom: Path  # folder of 6 slice files
    images: dict[str, Path]  # "png8", "png16", "jpeg", "tiff", "gif", "dcm"


def _demo_crop() -> Volume:
    from braintwin.io.nifti import load_nifti

    demo = data_path("demo", _DEMO_CASE, f"{_DEMO_CASE}_t1ce.nii.gz")
    with resources.as_file(demo) as path:
        vol = load_nifti(path, Modality.T1CE)
    c = np.array(vol.shape) // 2
    lo = c - (24, 24, 16)
    data = np.ascontiguousarray(
        vol.data[lo[0] : lo[0] + 48, lo[1] : lo[1] + 48, lo[2] : lo[2] + 32]
    )
    affine = vol.affine.copy()
    affine[:3, 3] = vol.index_to_world(lo)
    return Volume(data.astype(np.int16), affine, Modality.T1CE)


def _write_nifti(vol: Volume, path: Path, scaled: bool, version: int = 1) -> Path:
    import nibabel as nib

    cls = nib.Nifti2Image if version == 2 else nib.Nifti1Image
    img = cls(vol.data, vol.affine)
    img.set_qform(vol.affine, code=1)
    img.set_sform(vol.affine, code=1)
    if scaled:
        img.header.set_data_dtype(np.int16)
        img.header.set_slope_inter(0.5, 10.0)
    nib.save(img, str(path))
    return path


def _images(vol: Volume, out: Path) -> dict[str, Path]:
    from PIL import Image

    sl = vol.data[:, :, vol.shape[2] // 2].astype(np.float64)
    sl = np.asarray(np.kron(sl, np.ones((2, 2)))[:64, :64], dtype=np.float64)  # 64 x 64
    span = max(float(sl.max() - sl.min()), 1.0)
    grey8 = ((sl - sl.min()) / span * 255).astype(np.uint8)
    grey16 = ((sl - sl.min()) / span * 65535).astype(np.uint16)
    paths = {
        "png8": out / "slice8.png",
        "png16": out / "slice16.png",
        "jpeg": out / "slice.jpg",
        "tiff": out / "slice.tif",
        "gif": out / "slice.gif",
    }
    Image.fromarray(grey8).save(paths["png8"])
    Image.fromarray(grey16).save(paths["png16"])
    Image.fromarray(np.stack([grey8] * 3, axis=-1)).save(paths["jpeg"], quality=90)
    Image.fromarray(grey8).save(paths["tiff"])
    Image.fromarray(grey8).save(paths["gif"])
    return paths


def make_seeds(out: Path) -> Seeds:
    """Write the seed files into ``out`` (created) and return their paths."""
    from braintwin.io.dicom_write import write_dicom_series

    out.mkdir(parents=True, exist_ok=True)
    vol = _demo_crop()
    nifti = _write_nifti(vol, out / "seed_t1ce.nii", scaled=False)
    scaled = _write_nifti(vol.with_data(vol.data.astype(np.float32)), out / "seed_t2.nii", True)
    nifti2 = _write_nifti(vol, out / "seed_flair.nii", scaled=False, version=2)
    small = Volume(
        np.ascontiguousarray(vol.data[4:44, 4:44, 13:19]), vol.affine.copy(), Modality.T1CE
    )
    dicom = out / "seed_dicom"
    files = write_dicom_series(small, dicom, header={"SeriesDescription": "AX T1 POST GD"})
    images = _images(vol, out)
    images["dcm"] = files[2]
    return Seeds(nifti, scaled, nifti2, dicom, images)
