"""Write a twin as a BIDS dataset (``braintwin export bids ID DIR``).

Layout (BIDS 1.9)::

    DIR/dataset_description.json, README, participants.tsv
    DIR/sub-<P>/sub-<P>_sessions.tsv                       acq_time = the twin's shifted dates
    DIR/sub-<P>/ses-<NN>/anat/sub-<P>_ses-<NN>_{T1w,ce-gadolinium_T1w,T2w,FLAIR}.nii.gz (+ .json)
    DIR/derivatives/braintwin/dataset_description.json    DatasetType derivative, GeneratedBy
    DIR/derivatives/braintwin/desc-{tumor,reference}_dseg.tsv   the label table (BraTS labels)
    DIR/derivatives/braintwin/sub-<P>/ses-<NN>/anat/
        …_desc-tumor_dseg.nii.gz (+ .json: method, measurements in mL)
        …_desc-reference_dseg.nii.gz   the expert label that came with the images, if any
        …_desc-brain_mask.nii.gz
        …_label-<compartment>_desc-forecast<K>_{probseg,mask}.nii.gz (+ .json)  stored forecasts

``<P>`` is the twin's pseudonym without its hyphen; sessions are numbered in date order. The
images are the twin's stored volumes: preprocessed (resampled, registered to the first visit,
skull-stripped, intensity-normalised), not scanner data, and their sidecars say so. Nothing
identifying is written. The dataset is built in a hidden folder beside ``DIR`` and renamed into
place, so ``DIR`` holds a complete export or nothing new.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braintwin.atomic import atomic_write
from braintwin.errors import InputError, NotFoundError
from braintwin.types import Modality, Visit, Volume

if TYPE_CHECKING:
    from braintwin.store.records import Artifact
    from braintwin.twin.twin import Twin

__all__ = ["BIDS_VERSION", "DSEG_LABELS", "BidsExport", "export_bids", "participant_label"]

BIDS_VERSION = "1.9.0"
PIPELINE = "braintwin"
#: BIDS suffix (with the contrast entity) of each sequence; the agent is not recorded by the
#: twin, gadolinium being the agent of post-contrast T1 in neuro-oncology (docs/bids.md).
SUFFIXES = {
    Modality.T1: "T1w",
    Modality.T1CE: "ce-gadolinium_T1w",
    Modality.T2: "T2w",
    Modality.FLAIR: "FLAIR",
}
#: ``*_dseg.tsv`` rows: index, name, abbreviation (BraTS 2018 labels, Menze et al. 2015).
DSEG_LABELS = (
    (0, "background", "BG"),
    (1, "necrotic and non-enhancing tumour core", "NCR"),
    (2, "peritumoral edema", "ED"),
    (4, "enhancing tumour", "ET"),
)


@dataclass
class BidsExport:
    """What :func:`export_bids` wrote."""

    path: Path
    participant: str
    sessions: int
    files: int
    forecasts: int


def participant_label(pseudonym: str) -> str:
    """The BIDS participant label of a pseudonym (alphanumerics only, as BIDS requires)."""
    label = re.sub(r"[^A-Za-z0-9]", "", pseudonym)
    if not label:
        raise InputError("the pseudonym has no letters or digits", "this is a bug; report it")
    return label


def _json(path: Path, obj: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(obj, indent=2, default=str) + "\n")


def _tsv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    lines = ["\t".join(header)] + ["\t".join(str(x) for x in r) for r in rows]
    atomic_write(path, "\n".join(lines) + "\n")


def _nifti(vol: Volume, path: Path) -> None:
    from braintwin.io import save_nifti

    path.parent.mkdir(parents=True, exist_ok=True)
    save_nifti(vol, path)


def _is_our_export(path: Path) -> bool:
    try:
        desc = json.loads((path / "dataset_description.json").read_text())
        return any(g.get("Name") == PIPELINE for g in desc.get("GeneratedBy", []))
    except (OSError, ValueError, AttributeError):
        return False


def _check_target(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out.name} exists and is not a folder", "give a new folder name")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise InputError(
                f"{out.name} is not empty", "give a new or empty folder, or --force to replace it"
            )
        if not _is_our_export(out):  # --force never deletes a folder braintwin did not write
            raise InputError(
                f"{out.name} is not empty and is not a braintwin BIDS export",
                "give a new or empty folder (--force only replaces an earlier export)",
            )


def _swap(tmp: Path, out: Path) -> None:
    """Move the finished export into place (replacing an old one, checked beforehand)."""
    old = None
    if out.is_dir():
        old = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _description(derivative: bool) -> dict[str, Any]:
    from braintwin import __version__

    desc: dict[str, Any] = {
        "Name": "braintwin digital twin" + (": derived data" if derivative else ""),
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative" if derivative else "raw",
        "GeneratedBy": [
            {
                "Name": PIPELINE,
                "Version": __version__,
                "Description": "digital twin of a brain-tumour patient; pseudonymised, "
                "dates shifted by a per-patient secret offset",
            }
        ],
    }
    if derivative:
        desc["DatasetLinks"] = {"raw": "../../"}
    return desc


_README = """braintwin export of one pseudonymised patient.

Images under sub-*/ses-*/anat are the twin's preprocessed volumes (resampled, registered to the
first session, skull-stripped, intensity-normalised), not scanner data. Session dates in
sub-*_sessions.tsv are shifted by a secret per-patient offset. Segmentations (BraTS labels),
brain masks and growth-model forecasts are in derivatives/braintwin.
"""


def _raw_sidecar(visit: Visit, vol: Volume, first: bool) -> dict[str, Any]:
    opts = visit.meta.get("ingest_options") or {}
    return {
        "Description": "braintwin preprocessed image, not scanner data",
        "SkullStripped": True,
        "BraintwinPreprocessing": {
            "VoxelSizeMm": [round(s, 4) for s in vol.spacing],
            "Registration": "reference grid (first session)" if first
            else "rigidly registered to the first session",
            "BiasFieldCorrection": "N4" if opts.get("n4", True) else "none",
            "Intensity": "z-score within the brain mask",
        },
    }  # fmt: skip


def _dseg_sidecar(visit: Visit, sources: list[str]) -> dict[str, Any]:
    seg_meta = visit.meta.get("segmentation") or {}
    return {
        "Description": "tumour segmentation (BraTS labels; see desc-tumor_dseg.tsv)",
        "Sources": sources,
        "Method": seg_meta.get("method"),
        "ObservableRegions": seg_meta.get("observable_regions"),
        "Measurements": visit.measurements,
    }


def _forecast_sidecar(art: Artifact, kind: str) -> dict[str, Any]:
    p = art.payload
    plan = p.get("plan")
    what = (
        "fraction of posterior samples in which the voxel is inside the compartment"
        if kind == "probseg"
        else "voxels whose probability is at least Credibility"
    )
    return {
        "Description": f"growth-model forecast at ForecastDate: {what}",
        "StartDate": p.get("start"),
        "ForecastDate": p.get("date"),
        "Credibility": p.get("credibility"),
        "ParameterSource": p.get("source"),
        "Samples": p.get("n_samples"),
        "Plan": (plan or {}).get("name") if isinstance(plan, dict) else None,
        "PlanOrigin": p.get("plan_origin"),
        "Days": p.get("days"),
        "VolumeQuantilesMl": p.get("volume_ml"),
        "Progression": p.get("progression"),
    }


def _write(root: Path, twin: Twin, visits: list[Visit], forecasts: list[Artifact]) -> int:
    part = participant_label(twin.id)
    sub = f"sub-{part}"
    deriv = root / "derivatives" / PIPELINE
    _json(root / "dataset_description.json", _description(False))
    atomic_write(root / "README", _README)
    _tsv(root / "participants.tsv", ["participant_id"], [[sub]])
    _json(deriv / "dataset_description.json", _description(True))
    for desc in ("tumor", "reference"):
        _tsv(deriv / f"desc-{desc}_dseg.tsv", ["index", "name", "abbreviation"],
             [list(r) for r in DSEG_LABELS])  # fmt: skip
    rows, n_forecasts = [], 0
    for i, visit in enumerate(visits):
        ses = f"ses-{i + 1:02d}"
        rows.append([ses, f"{visit.date.isoformat()}T00:00:00"])
        stem = f"{sub}_{ses}"
        anat, danat = root / sub / ses / "anat", deriv / sub / ses / "anat"
        sources = []
        for m, suffix in SUFFIXES.items():
            if m in visit.volumes:
                _nifti(visit.volumes[m], anat / f"{stem}_{suffix}.nii.gz")
                _json(anat / f"{stem}_{suffix}.json", _raw_sidecar(visit, visit.volumes[m], i == 0))
                sources.append(f"bids:raw:{sub}/{ses}/anat/{stem}_{suffix}.nii.gz")
        if visit.segmentation is not None:
            _nifti(visit.segmentation, danat / f"{stem}_desc-tumor_dseg.nii.gz")
            _json(danat / f"{stem}_desc-tumor_dseg.json", _dseg_sidecar(visit, sources))
        if "reference_seg" in visit.extras:
            _nifti(visit.extras["reference_seg"], danat / f"{stem}_desc-reference_dseg.nii.gz")
        if visit.brain_mask is not None:
            _nifti(visit.brain_mask, danat / f"{stem}_desc-brain_mask.nii.gz")
        for k, art in enumerate(a for a in forecasts if a.visit_date == visit.date):
            n_forecasts += 1
            for name, vol in sorted(art.volumes.items()):
                kind, _, comp = name.partition("_")
                kind_suffix = {"probability": "probseg", "mask": "mask"}.get(kind)
                label = re.sub(r"[^A-Za-z0-9]", "", comp)
                if kind_suffix is None or not label:
                    continue
                base = danat / f"{stem}_label-{label}_desc-forecast{k + 1}_{kind_suffix}"
                _nifti(vol, base.with_name(base.name + ".nii.gz"))
                _json(base.with_name(base.name + ".json"), _forecast_sidecar(art, kind_suffix))
    _tsv(root / sub / f"{sub}_sessions.tsv", ["session_id", "acq_time"], rows)
    _json(root / sub / f"{sub}_sessions.json", {
        "acq_time": {"Description": "session date, shifted by the patient's secret offset"}
    })  # fmt: skip
    return n_forecasts


def export_bids(twin: Twin, out: str | Path, *, force: bool = False) -> BidsExport:
    """Write ``twin`` as a BIDS dataset in ``out`` (see the module docstring).

    ``out`` must be new or empty; ``force`` replaces an earlier braintwin export (and nothing
    else). The export appears complete, or not at all.
    """
    out = Path(out).absolute()
    _check_target(out, force)
    visits = twin.visits()
    if not visits:
        raise NotFoundError("the twin has no visits to export", "ingest a visit first")
    forecasts = twin.store.artifacts(twin.id, "forecast") if twin.store.has_patient(twin.id) else []
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        n_forecasts = _write(tmp, twin, visits, forecasts)
        files = sum(1 for p in tmp.rglob("*") if p.is_file())
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BidsExport(out, participant_label(twin.id), len(visits), files, n_forecasts)
