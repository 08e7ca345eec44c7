"""Mutations of seed files into hostile reader inputs (NIfTI, DICOM series, 2D images).

Each mutator takes a ``random.Random`` and writes one case into a fresh folder; the case names
the reader to run and a label (reader/mutation) for the counts. Mutations target what a broken
export or an attacker controls: header fields (NIfTI dim/pixdim/vox_offset/datatype/scaling/
qform/sform, DICOM Rows/Columns/positions/transfer syntax/VRs, image dimensions), truncation,
random byte flips, extensions, decompression bombs, duplicate and missing slices.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from braintwin.fuzz.mutate_dicom import DICOM_MUTATORS
from braintwin.fuzz.mutate_image import IMAGE_MUTATORS
from braintwin.fuzz.mutate_nifti import NIFTI_MUTATORS
from braintwin.fuzz.seeds import Seeds

__all__ = ["MUTATORS", "Case", "make_case"]


@dataclass(frozen=True)
class Case:
    """One fuzz input: which reader reads ``path`` and what was done to the seed."""

    reader: str  # "nifti" | "dicom" | "image" | "visit"
    label: str
    path: Path


def _visit(rng: random.Random, seeds: Seeds, folder: Path) -> tuple[str, Path]:
    """A visit folder: a mutated NIfTI or DICOM series beside a valid image of the same head."""
    visit = folder / "visit"
    visit.mkdir()
    inner = folder / "inner"
    inner.mkdir()
    # NIfTI header fields or truncation; DICOM tags or raw bytes
    inner_mutators = (NIFTI_MUTATORS[0], NIFTI_MUTATORS[1], DICOM_MUTATORS[0], DICOM_MUTATORS[2])
    mutator = rng.choice(inner_mutators)[0]
    label, path = mutator(rng, seeds, inner)
    if path.is_dir():
        shutil.move(str(path), visit / "t1ce")
    else:
        suffix = ".nii.gz" if path.name.endswith(".gz") else ".nii"
        shutil.move(str(path), visit / f"case_t1ce{suffix}")
    shutil.copy(seeds.nifti, visit / "case_flair.nii")
    return f"visit:{label}", visit


Mutator = Callable[[random.Random, Seeds, Path], tuple[str, Path]]
# (reader, mutator, weight)
MUTATORS: tuple[tuple[str, Mutator, float], ...] = (
    *(("nifti", m, w) for m, w in NIFTI_MUTATORS),
    *(("dicom", m, w) for m, w in DICOM_MUTATORS),
    *(("image", m, w) for m, w in IMAGE_MUTATORS),
    ("visit", _visit, 1.0),
)


def make_case(rng: random.Random, seeds: Seeds, folder: Path) -> Case:
    """Draw one mutator (weighted) and write its case into the empty ``folder``."""
    weights = [w for _, _, w in MUTATORS]
    reader, mutator, _ = rng.choices(MUTATORS, weights=weights)[0]
    label, path = mutator(rng, seeds, folder)
    return Case(reader, label, path)
