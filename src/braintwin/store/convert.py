"""Conversion between ``Volume``/``Visit`` objects and database rows, and input validation.

A visit's volumes are stored under a *slot* and a *role*: slot ``image`` with the modality value
as role for ``Visit.volumes``; ``seg``/``seg`` for the segmentation; ``brain_mask``/``brain_mask``
for the brain mask; slot ``extra`` with the extra's name (``raw_t1ce``, ``uncertainty``,
``reference_seg``, …) for ``Visit.extras``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from braintwin.errors import InputError
from braintwin.store.models import (
    PATIENT_ID_LENGTH,
    ROLE_LENGTH,
    ArtifactVolumeRow,
    VisitRow,
    VolumeRow,
    utcnow,
)
from braintwin.store.objects import CanonicalVolume, object_relpath, read_object
from braintwin.store.records import to_json
from braintwin.types import Modality, Visit, Volume

__all__ = [
    "BRAIN_MASK",
    "EXTRA",
    "IMAGE",
    "SEG",
    "SlotRole",
    "build_visit",
    "check_action",
    "check_date",
    "check_digest",
    "check_grid",
    "check_name",
    "check_patient_id",
    "check_volume",
    "extra_roles",
    "fill_row",
    "new_visit_row",
    "reference_row",
    "row_volume",
    "visit_roles",
]

IMAGE = "image"
SEG = "seg"
BRAIN_MASK = "brain_mask"
EXTRA = "extra"
SlotRole = tuple[str, str]

_NAME = re.compile(rf"^[a-z][a-z0-9_]{{0,{ROLE_LENGTH - 1}}}$")
_PATIENT = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{PATIENT_ID_LENGTH - 1}}}$")
_DIGEST = re.compile(r"^[0-9a-fA-F]{16,64}$")
_ACTION = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")

RowT = TypeVar("RowT", VolumeRow, ArtifactVolumeRow)


def check_patient_id(patient_id: str) -> str:
    if not isinstance(patient_id, str) or not _PATIENT.match(patient_id):
        raise InputError(
            "a patient id must be 1-64 letters, digits, '.', '_' or '-'",
            "use the pseudonymous id braintwin assigned (see `braintwin patients`)",
        )
    return patient_id


def check_digest(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InputError(
            "a visit digest must be the hex sha256 of the source files",
            "pass VisitImages.digest from braintwin.io.read_visit_images",
        )
    return digest.lower()


def check_name(name: str, what: str) -> str:
    """A role / artifact kind: lower-case letters, digits and '_' (it is stored, not shown)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InputError(
            f"invalid {what} {name!r}",
            f"a {what} is 1-{ROLE_LENGTH} lower-case letters, digits or '_', starting with a letter",
        )
    return name


def check_action(action: str) -> str:
    """An event action such as ``add_visit`` or ``forecast.run``."""
    if not isinstance(action, str) or not _ACTION.match(action):
        raise InputError(
            f"invalid event action {action!r}",
            "use 1-64 lower-case letters, digits, '_', '.' or '-', starting with a letter",
        )
    return action


def check_date(date: Any) -> dt.date:
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise InputError(
            f"a visit date must be a datetime.date, got {type(date).__name__}",
            "parse it first, e.g. datetime.date.fromisoformat('2020-03-14')",
        )
    return date


def check_volume(vol: Any, what: str) -> Volume:
    if not isinstance(vol, Volume):
        raise InputError(f"{what} must be a Volume, got {type(vol).__name__}")
    return vol


def extra_roles(extra: Mapping[str, Volume] | None) -> dict[SlotRole, Volume]:
    """Validate extra volumes by name."""
    out: dict[SlotRole, Volume] = {}
    for name, vol in (extra or {}).items():
        check_name(name, "extra volume name")
        out[(EXTRA, name)] = check_volume(vol, f"extra volume {name!r}")
    return out


def visit_roles(visit: Visit, extra: Mapping[str, Volume] | None = None) -> dict[SlotRole, Volume]:
    """All volumes of ``visit`` (its extras plus ``extra``) by (slot, role), checked."""
    if not isinstance(visit, Visit):
        raise InputError(f"expected a Visit, got {type(visit).__name__}")
    check_date(visit.date)
    roles: dict[SlotRole, Volume] = {}
    for modality, vol in visit.volumes.items():
        m = Modality(modality)
        if m is Modality.SEG:
            raise InputError(
                "a segmentation was given as an MRI volume", "pass it as Visit.segmentation"
            )
        roles[(IMAGE, m.value)] = check_volume(vol, f"volume {m.value!r}")
    if not roles:
        raise InputError("the visit has no image volumes", "add at least one MRI sequence")
    reference = visit.reference
    for slot, label in ((SEG, visit.segmentation), (BRAIN_MASK, visit.brain_mask)):
        if label is None:
            continue
        vol = check_volume(label, slot)
        check_grid(slot, vol, reference.shape, reference.affine)
        roles[(slot, slot)] = vol
    both = set(visit.extras) & set(extra or {})
    if both:
        raise InputError(
            f"extra volume(s) {sorted(both)} given twice", "pass them in Visit.extras only"
        )
    roles.update(extra_roles(visit.extras))
    roles.update(extra_roles(extra))
    return roles


def check_grid(what: str, vol: Volume, shape: Iterable[int], affine: Any) -> None:
    """Segmentations and masks must lie on the visit's image grid (voxel-wise comparable)."""
    import numpy as np

    shape = tuple(int(n) for n in shape)
    if vol.shape != shape or not np.allclose(vol.affine, np.asarray(affine), atol=1e-3):
        raise InputError(
            f"the {what} is not on the visit's image grid ({vol.shape} vs {shape})",
            "resample it onto the visit's reference volume first",
        )


def fill_row(row: RowT, role: str, vol: Volume, cv: CanonicalVolume) -> RowT:
    """Set a (new or existing) volume row to describe ``vol`` stored as ``cv``."""
    row.role = role
    row.sha256 = cv.sha256
    row.path = object_relpath(cv.sha256)
    row.shape = list(vol.shape)
    row.spacing = list(vol.spacing)
    row.dtype = cv.original_dtype
    row.affine = cv.affine.tolist()
    row.modality = vol.modality.value
    row.meta = to_json(vol.meta, f"meta of volume {role!r}")
    return row


def row_volume(home: Path, row: VolumeRow | ArtifactVolumeRow, *, verify: bool = True) -> Volume:
    """Load the exact ``Volume`` a row describes."""
    return read_object(
        home,
        row.path,
        sha256=row.sha256,
        affine=row.affine,
        dtype=row.dtype,
        modality=row.modality,
        meta=row.meta,
        verify=verify,
    )


def build_visit(home: Path, date: dt.date, rows: list[VolumeRow], *, verify: bool = True) -> Visit:
    """A ``Visit`` (without its JSON fields) from its volume rows."""
    visit = Visit(date=date)
    images: dict[Modality, Volume] = {}
    for row in sorted(rows, key=lambda r: (r.slot, r.role)):
        vol = row_volume(home, row, verify=verify)
        if row.slot == IMAGE:
            images[Modality(row.role)] = vol
        elif row.slot == SEG:
            visit.segmentation = vol
        elif row.slot == BRAIN_MASK:
            visit.brain_mask = vol
        else:
            visit.extras[row.role] = vol
    # Canonical modality order (T1, T1ce, T2, FLAIR, then derived) like freshly ingested visits.
    order = {m: i for i, m in enumerate(Modality)}
    visit.volumes = dict(sorted(images.items(), key=lambda kv: order[kv[0]]))
    return visit


def reference_row(rows: Iterable[VolumeRow]) -> VolumeRow | None:
    """The row of the volume defining a visit's grid (T1ce, else the first MRI modality)."""
    images = {r.role: r for r in rows if r.slot == IMAGE}
    if Modality.T1CE.value in images:
        return images[Modality.T1CE.value]
    order = [m.value for m in Modality]
    return images[min(images, key=order.index)] if images else None


def new_visit_row(
    patient_id: str,
    visit: Visit,
    digest: str,
    roles: Mapping[SlotRole, Volume],
    canon: Mapping[SlotRole, CanonicalVolume],
    meta: Any,
    measurements: Any,
) -> VisitRow:
    """A new visit row with its volume rows (``meta``/``measurements`` already JSON)."""
    now = utcnow()
    row = VisitRow(
        patient_id=patient_id,
        date=visit.date,
        digest=digest,
        meta=meta,
        measurements=measurements,
        classification=None,
        created_at=now,
        updated_at=now,
    )
    for (slot, role), vol in roles.items():
        row.volumes.append(fill_row(VolumeRow(slot=slot), role, vol, canon[(slot, role)]))
    return row
