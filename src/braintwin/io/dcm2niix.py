"""Fallback conversion of a DICOM series with the ``dcm2niix`` executable (Li et al. 2016).

pydicom reads classic single-frame series directly; dcm2niix (PyPI package ``dcm2niix``)
handles what pydicom cannot: enhanced / legacy-converted multi-frame objects and compressed
transfer syntaxes without an installed Python decoder (e.g. JPEG Lossless). It runs in a
private temporary folder with a fixed output name and no BIDS sidecar, so no identifier is
written anywhere; only the voxel array and the affine are kept.

Li X, Morgan PS, Ashburner J, Smith J, Rorden C (2016). The first step for neuroimaging data
analysis: DICOM to NIfTI conversion. J Neurosci Methods 264:47-56.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from braintwin.errors import DicomSeriesError
from braintwin.io.nifti import load_nifti

__all__ = ["convert_with_dcm2niix", "dcm2niix_executable"]

# dcm2niix converts ~50 MB/s here; a bound that scales with the input keeps hostile files
# from stalling a read (a small series gets 10 s, the cap is 5 minutes).
_TIMEOUT_BASE_S = 10.0
_TIMEOUT_BYTES_PER_S = 20e6
_TIMEOUT_MAX_S = 300.0


def _timeout(folder: Path) -> float:
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return min(_TIMEOUT_BASE_S + size / _TIMEOUT_BYTES_PER_S, _TIMEOUT_MAX_S)


def dcm2niix_executable() -> str | None:
    """Path of the dcm2niix executable (PATH, then beside the running Python), or None."""
    found = shutil.which("dcm2niix")
    if found:
        return found
    beside = Path(sys.executable).parent / "dcm2niix"
    return str(beside) if beside.exists() else None


def convert_with_dcm2niix(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Convert the one series in ``folder`` (files directly inside it only).

    Returns:
        (data, affine): the 3D voxel array (scaling applied) and its RAS+ affine (mm).

    Raises:
        DicomSeriesError: dcm2niix missing or failed, or the series holds several volumes.
    """
    exe = dcm2niix_executable()
    if exe is None:
        raise DicomSeriesError(
            "this DICOM series needs dcm2niix (multi-frame or compressed) but it is not installed",
            "pip install dcm2niix",
        )
    with tempfile.TemporaryDirectory(prefix="braintwin-dcm2niix-") as tmp:
        cmd = [exe, "-b", "n", "-z", "n", "-d", "0", "-f", "volume", "-o", tmp, str(folder)]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=_timeout(folder), check=False)
        except subprocess.TimeoutExpired as err:
            raise DicomSeriesError(
                "dcm2niix did not finish converting the series in time",
                "the files may be corrupt; re-export the series from the PACS",
            ) from err
        except OSError as err:
            raise DicomSeriesError(
                f"dcm2niix could not convert the series ({type(err).__name__})"
            ) from err
        outputs = sorted(Path(tmp).glob("*.nii"))
        if proc.returncode != 0 or not outputs:
            raise DicomSeriesError(
                f"dcm2niix could not convert the series (exit code {proc.returncode})",
                "the files may be corrupt; re-export the series from the PACS",
            )
        if len(outputs) > 1:
            raise DicomSeriesError(
                f"the series holds {len(outputs)} separate volumes (echoes, phases or time points)",
                "export one volume per series",
            )
        vol = load_nifti(outputs[0])
        # copy: an uncompressed .nii may be memory-mapped and the folder is about to vanish
        return np.array(vol.data, copy=True), vol.affine.copy()
