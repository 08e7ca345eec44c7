"""Guess the MRI sequence (T1, T1ce, T2, FLAIR) or a BraTS label file from names and DICOM tags.

The guess is deliberately conservative: when the evidence is weak or contradictory the answer
is ``None`` and the caller asks the user (``--modality``), because a T1 mistaken for a T1ce
silently corrupts every downstream measurement. Diffusion, perfusion, susceptibility and
localiser series are recognised and rejected (``None``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from braintwin.types import Modality

__all__ = ["detect_modality", "modality_from_name", "modality_from_tags"]

_EXTENSIONS = (".nii.gz", ".nii", ".dcm", ".ima", ".img", ".hdr", ".mgz", ".nrrd")

# Series that are MRI but none of the four structural sequences (or not images at all).
_NEGATIVE = re.compile(
    r"(\bt2 ?\*|\b(dwi|adc|dti|diff\w*|trace|tracew|perf\w*|dsc|dce|asl|bold|fmri|swi|swan|"
    r"t2star|gre t2|localizer|localiser|loc|scout|survey|fieldmap|mip|pd|pdw|mra|tof|phase|"
    r"mag|b0|ep2d)\b)"
)
_SEG = re.compile(r"\b(seg|dseg|segmentation|labels?)\b")
_FLAIR = re.compile(r"(flair|dark ?fluid|\bt2f\b|\btirm\b)")
# Sequence names that already say "T1 with contrast".
_T1CE_WORD = re.compile(
    r"\b(t1ce|t1c|t1gd|t1 ?\+ ?c|t1 ?\+ ?gd|t1post|t1wce|t1w ce|t1 ?c\+|t1 c|t1 ?gad|t1 ?gado)\b"
)
# Philips prefixes SENSE scans with "s" (sT1W_3D_TFE, sT2W_TSE).
_T1_WORD = re.compile(
    r"\b(s?t1|s?t1w|t1n|t1 ?pre|mprage|mpr|spgr|fspgr|bravo|tfl|tfe|t1 ?se|t1 ?fs)\b"
)
_T2_WORD = re.compile(r"\b(s?t2|s?t2w|t2 ?tse|t2 ?fse|frfse|haste)\b")
_CONTRAST = re.compile(
    r"(\+ ?c\b|\bc ?\+|\+ ?gd\b|\bgd\b|\bgad\w*|\bgado\w*|\bpost\w*|\bce\b|\bcontrast\b|"
    r"\bkm\b|\benhanc\w*|\bmultihance|\bdotarem|\bgadavist|\bmagnevist)"
)
# BraTS-style suffixes: the last token decides, whatever the case ID before it holds, unless
# the name also has other sequence words ("Ax T1 FLAIR" is GE's T1-weighted FLAIR).
_SUFFIX = {
    "t1": Modality.T1, "t1n": Modality.T1, "t1ce": Modality.T1CE, "t1c": Modality.T1CE,
    "t2": Modality.T2, "t2w": Modality.T2, "flair": Modality.FLAIR, "t2f": Modality.FLAIR,
    "seg": Modality.SEG,
}  # fmt: skip
_PRE = re.compile(r"(\bpre\b|\bprecontrast\b|\bpre ?contrast\b|\bnon ?contrast\b|\bno ?contrast\b|"
                  r"\bwithout contrast\b|\bnative\b)")  # fmt: skip


def _normalise(name: str) -> str:
    """Lower-case, strip known file extensions, collapse separators to single spaces."""
    s = name.strip().lower()
    for ext in _EXTENSIONS:
        if s.endswith(ext):
            s = s[: -len(ext)]
            break
    s = re.sub(r"[_\-.\s/\\()\[\],;:=]+", " ", s)
    return f" {s.strip()} "


def modality_from_name(name: str | os.PathLike[str]) -> Modality | None:
    """Modality from a file, folder or series name; ``None`` when unsure.

    Handles BraTS (``*_t1``, ``*_t1ce``, ``*_t2``, ``*_flair``, ``*_seg``; BraTS 2023 ``t1n``,
    ``t1c``, ``t2w``, ``t2f``), BIDS (``*_T1w``, ``*_ce-gd_T1w``, ``*_FLAIR``, ``*_dseg``) and
    common scanner names (``T1 +C``, ``T1_POST``, ``MPRAGE``, ``AX T2 FRFSE``, ``T2-FLAIR``).
    """
    raw = os.fspath(name)
    s = _normalise(Path(raw).name if ("/" in raw or "\\" in raw) else raw)
    tokens = s.split()
    if len(tokens) > 1 and tokens[-1] in _SUFFIX:
        head = f" {' '.join(tokens[:-1])} "
        if not (_T1_WORD.search(head) or _T2_WORD.search(head) or _FLAIR.search(head)):
            return _SUFFIX[tokens[-1]]
    if _SEG.search(s):
        return Modality.SEG
    has_t1 = bool(_T1_WORD.search(s))
    has_t2 = bool(_T2_WORD.search(s))
    if _FLAIR.search(s) and not (has_t1 and not has_t2):
        return Modality.FLAIR  # "T1 FLAIR" (GE) is T1-weighted: handled below
    if _NEGATIVE.search(s):
        return None
    if _T1CE_WORD.search(s):
        return Modality.T1CE
    if has_t1 and has_t2:
        return None  # contradictory (e.g. "t1 t2 combo"): ask the user
    contrast = bool(_CONTRAST.search(s)) and not _PRE.search(s)
    if has_t1:
        return Modality.T1CE if contrast else Modality.T1
    if has_t2:
        return None if contrast else Modality.T2
    return None


# Enhanced (multi-frame) MR keeps timing in the shared functional groups (PS3.3 C.8.13.5).
_ENHANCED = {
    "RepetitionTime": ("MRTimingAndRelatedParametersSequence", "RepetitionTime"),
    "EchoTime": ("MREchoSequence", "EffectiveEchoTime"),
    "InversionTime": ("MRModifierSequence", "InversionTimes"),
}


def _enhanced_value(ds: Any, keyword: str) -> Any:
    if keyword not in _ENHANCED:
        return None
    seq_name, inner = _ENHANCED[keyword]
    try:
        shared = ds.SharedFunctionalGroupsSequence[0]
        return getattr(getattr(shared, seq_name)[0], inner)
    except (AttributeError, IndexError, TypeError):
        return None


def _num(ds: Any, keyword: str) -> float | None:
    value = ds.get(keyword, None)
    if value is None or value == "":
        value = _enhanced_value(ds, keyword)
    if value is None or value == "":
        return None
    try:
        multi = not isinstance(value, str | bytes | int | float) and hasattr(value, "__getitem__")
        return float(value[0] if multi else value)
    except (TypeError, ValueError, IndexError):
        return None


def _has_contrast(ds: Any) -> bool:
    agent = str(ds.get("ContrastBolusAgent", "") or "").strip().lower()
    return bool(agent) and agent not in ("none", "no", "n/a", "0")


def modality_from_tags(ds: Any) -> Modality | None:
    """Modality from a pydicom ``Dataset``'s tags; ``None`` when unsure.

    Order of evidence: the text tags (SeriesDescription, ProtocolName, SequenceName), upgraded
    to T1ce when ContrastBolusAgent is filled in; then inversion recovery with a long inversion
    time (FLAIR, TI > 1500 ms); then, as a last resort, the classic contrast-weighting rules on
    echo/repetition times (T1: TR < 1000 ms and TE < 30 ms; T2: TR > 2000 ms and TE > 60 ms).
    """
    contrast = _has_contrast(ds)
    for keyword in ("SeriesDescription", "ProtocolName", "SequenceName"):
        text = str(ds.get(keyword, "") or "").strip()
        if not text:
            continue
        s = _normalise(text)
        if _NEGATIVE.search(s) and not _FLAIR.search(s):
            return None  # the scanner says DWI/SWI/localiser: never guess a structural sequence
        guess = modality_from_name(text)
        if guess is Modality.SEG:
            return None
        if guess is not None:
            return Modality.T1CE if (guess is Modality.T1 and contrast) else guess
    scanning = str(ds.get("ScanningSequence", "") or "").upper()
    ti = _num(ds, "InversionTime")
    te = _num(ds, "EchoTime")
    tr = _num(ds, "RepetitionTime")
    if "IR" in scanning and ti is not None and ti > 1500 and (te is None or te > 60):
        return Modality.FLAIR
    if te is None or tr is None:
        return None
    if tr < 1000 and te < 30 and ("IR" not in scanning or (ti is not None and ti < 1500)):
        return Modality.T1CE if contrast else Modality.T1
    if "IR" in scanning and ti is not None and 600 <= ti <= 1300 and te < 10:
        return Modality.T1CE if contrast else Modality.T1  # MPRAGE-like
    if tr > 2000 and te > 60 and not contrast and "IR" not in scanning:
        return Modality.T2
    return None


def detect_modality(name_or_dataset: Any) -> Modality | None:
    """Modality of a file/series name (``str``/``Path``) or of a pydicom ``Dataset``."""
    if isinstance(name_or_dataset, str | os.PathLike):
        return modality_from_name(name_or_dataset)
    if hasattr(name_or_dataset, "get") and hasattr(name_or_dataset, "dir"):
        return modality_from_tags(name_or_dataset)
    raise TypeError(
        f"detect_modality expects a name or a pydicom Dataset, got {type(name_or_dataset)!r}"
    )
