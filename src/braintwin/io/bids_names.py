"""BIDS file names: entities, suffixes, the sequence a name means, and sidecar inheritance.

A BIDS name is ``key-value`` entities joined by ``_`` and ending in a suffix, e.g.
``sub-01_ses-02_ce-gadolinium_run-1_T1w.nii.gz`` (BIDS 1.9, "File name structure").

Contrast rule (documented in docs/bids.md): a ``T1w`` image is T1ce when it has a ``ce-``
entity (whatever the agent's label, except ``none``/``no``/``pre``), or an ``acq-`` label that
says contrast (``gd``, ``gad…``, ``contrast``, ``post…``, ``enhanc…``, or exactly ``ce``/``t1ce``/
``t1c``, without ``pre``/``non``/``no…``), or a sidecar ``ContrastBolusIngredient`` /
``ContrastBolusAgent`` naming an agent. ``T2w`` is T2, ``FLAIR`` is FLAIR; every other suffix
(``T2starw``, ``PDw``, ``T1map``, …) is not one of the four structural inputs and is skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from braintwin.errors import InputError
from braintwin.types import Modality

__all__ = [
    "BidsName",
    "bids_modality",
    "is_label",
    "parse_bids_name",
    "sidecar_for",
]

_EXTENSIONS = (".nii.gz", ".nii", ".json", ".tsv")
_ENTITY = re.compile(r"^([a-z]+)-([A-Za-z0-9+]+)$")
_LABEL = re.compile(r"^[A-Za-z0-9+]+$")
_ACQ_CONTRAST = re.compile(r"gd|gad|contrast|post|enhanc")
_ACQ_EXACT = re.compile(r"(t1)?ce\d*|t1c\d*")
_NOT_CONTRAST = re.compile(r"pre|non|^no|without|native")
_SUFFIXES = {"T1w": Modality.T1, "T2w": Modality.T2, "FLAIR": Modality.FLAIR}


@dataclass(frozen=True)
class BidsName:
    """A parsed BIDS file name: ordered entities, suffix and extension."""

    entities: tuple[tuple[str, str], ...]
    suffix: str
    extension: str

    def get(self, key: str) -> str | None:
        return dict(self.entities).get(key)

    def short(self) -> str:
        """The name without the ``sub-``/``ses-`` entities and extension (e.g. ``run-2_T1w``):
        what messages show, so the subject label (which may be an identifier) never appears."""
        kept = [f"{k}-{v}" for k, v in self.entities if k not in ("sub", "ses")]
        return "_".join([*kept, self.suffix])


def is_label(text: str) -> bool:
    """True for a valid BIDS label (alphanumeric; ``+`` allowed as in BIDS 1.9)."""
    return bool(_LABEL.match(text))


def parse_bids_name(name: str) -> BidsName | None:
    """Parse ``name`` (a file name, no folder); ``None`` when it is not a BIDS name."""
    lower = name.lower()
    ext = next((e for e in _EXTENSIONS if lower.endswith(e)), None)
    if ext is None:
        return None
    parts = name[: -len(ext)].split("_")
    if len(parts) < 1 or not parts[-1].isalnum():
        return None
    entities: list[tuple[str, str]] = []
    for part in parts[:-1]:
        m = _ENTITY.match(part)
        if m is None:
            return None
        entities.append((m.group(1), m.group(2)))
    return BidsName(tuple(entities), parts[-1], ext)


def _says_contrast_agent(sidecar: dict[str, Any]) -> bool:
    for key in ("ContrastBolusIngredient", "ContrastBolusAgent"):
        value = str(sidecar.get(key) or "").strip().lower()
        if value and value not in ("none", "no", "n/a", "0"):
            return True
    return False


def bids_modality(name: BidsName, sidecar: dict[str, Any] | None = None) -> Modality | None:
    """The structural sequence a BIDS image name means (see the module docstring), or None."""
    base = _SUFFIXES.get(name.suffix)
    if base is not Modality.T1:
        return base
    ce = (name.get("ce") or "").lower()
    if ce and ce not in ("none", "no", "pre"):
        return Modality.T1CE
    acq = (name.get("acq") or "").lower()
    says = bool(_ACQ_CONTRAST.search(acq) or _ACQ_EXACT.fullmatch(acq))
    if acq and says and not _NOT_CONTRAST.search(acq):
        return Modality.T1CE
    if sidecar and _says_contrast_agent(sidecar):
        return Modality.T1CE
    return Modality.T1


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"unreadable BIDS sidecar {path.name}: {type(exc).__name__}",
            "fix the JSON file (it must hold one object) or remove it",
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"BIDS sidecar {path.name} is not a JSON object", "fix or remove it")
    return data


def sidecar_for(image: Path, levels: list[Path]) -> dict[str, Any]:
    """The image's metadata by the BIDS inheritance principle.

    ``levels``: the folders from the dataset root down to the image's own folder. A JSON file
    at any level applies when its suffix equals the image's and its entities are a subset of
    the image's; deeper (more specific) files override shallower ones, key by key.
    """
    target = parse_bids_name(image.name)
    if target is None:
        return {}
    own = set(target.entities)
    merged: dict[str, Any] = {}
    for folder in levels:
        if not folder.is_dir():
            continue
        found = []
        for p in folder.iterdir():
            if not p.name.endswith(".json") or not p.is_file():
                continue
            cand = parse_bids_name(p.name)
            if cand is None or cand.suffix != target.suffix or not set(cand.entities) <= own:
                continue
            found.append((len(cand.entities), p))
        for _, p in sorted(found):  # fewer entities = more general: applied first
            merged.update(_read_json(p))
    return merged
