"""Where synthetic patients live: the growth brain and the on-disk layout of ``simulate``.

``brain_domain`` builds the growth domain ``simulate`` grows tumours in (the MNI152 template
or a real BraTS brain with registered atlas tissue). ``write_synthetic_patient`` writes one
SYNTHETIC patient as BraTS-layout visit folders that ``braintwin ingest`` reads (images plus a
``_seg`` file), with the ground truth beside them. The images are *renderings*, not scans: the
brain's T1 with contrast added where the model's density is visible (T1ce: enhancement where
u >= the T1ce threshold; FLAIR: hyperintensity where u >= the FLAIR threshold), enough for
the pipeline to run end to end; every file name, header description and the manifest say
SYNTHETIC.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from braintwin.atomic import atomic_write
from braintwin.errors import InputError
from braintwin.growth.domain import Domain
from braintwin.growth.synthetic import SYNTHETIC_LABEL, SyntheticPatient, coarsen_image
from braintwin.types.volume import Modality, Volume

__all__ = ["brain_domain", "render_images", "write_synthetic_patient"]


def brain_domain(brain: str, resolution: int) -> tuple[Domain, Volume | None, str]:
    """(Domain, T1 Volume | None, description) for ``"mni152"`` or a BraTS case folder."""
    from braintwin.growth.tissue import mni152_tissue_maps, mni152_volumes

    if resolution not in (1, 2):
        raise InputError(f"resolution must be 1 or 2 mm, got {resolution}", "use 1 or 2")
    if brain.lower() == "mni152":
        v = mni152_volumes(1)
        dom = Domain.from_tissue_maps(v["wm"], v["gm"], None, v["brain"])
        t1: Volume = v["t1"].with_data(v["t1"].data * v["brain"].data)
        desc = "MNI152 2009 template brain (nilearn), atlas tissue"
    else:
        from braintwin.io import load_nifti

        case = Path(brain)
        t1_files = sorted(case.glob("*_t1.nii*"))
        if not t1_files:
            raise InputError(f"no *_t1.nii.gz in {case}", "give a BraTS case folder or 'mni152'")
        t1 = load_nifti(t1_files[0])
        mask = t1.with_data((t1.data > 0).astype("uint8"), Modality.MASK)
        tissue = mni152_tissue_maps(t1, mask)
        dom = Domain.from_tissue_maps(tissue.wm, tissue.gm, tissue.csf, mask)
        desc = "real brain of a BraTS 2018 case (skull-stripped T1 > 0), MNI152 tissue registered"
    if resolution == 2:
        dom, t1 = dom.coarsen(2), coarsen_image(t1, 2)
    return dom, t1, desc


def render_images(t1: Volume, segmentation: Volume) -> dict[str, Volume]:
    """SYNTHETIC T1 / T1ce / FLAIR renderings of a visit from the brain's T1 and the labels."""
    base = np.asarray(t1.data, np.float32)
    brain = base > 0
    scale = float(np.percentile(base[brain], 95)) if brain.any() else 1.0
    labels = np.asarray(segmentation.data)
    core = np.isin(labels, (1, 4))
    whole = labels > 0
    t1ce = base.copy()
    t1ce[core] = base[core] + 0.8 * scale  # gadolinium enhancement of the core
    flair = np.where(brain, 0.6 * base, 0.0).astype(np.float32)
    flair[whole] = 0.6 * base[whole] + 0.9 * scale  # FLAIR hyperintensity of the whole tumour
    meta = {"synthetic": True, "description": SYNTHETIC_LABEL}
    return {
        "t1": Volume(base, t1.affine.copy(), Modality.T1, dict(meta)),
        "t1ce": Volume(t1ce, t1.affine.copy(), Modality.T1CE, dict(meta)),
        "flair": Volume(flair, t1.affine.copy(), Modality.FLAIR, dict(meta)),
    }


def write_synthetic_patient(patient: SyntheticPatient, out: Path, t1: Volume | None = None) -> Path:
    """Write a ``SyntheticPatient``: one BraTS-layout case folder per visit (readable by
    ``braintwin.io`` and ``braintwin ingest``) and the ground truth beside them::

        OUT/CASE/synthetic.json                     SYNTHETIC label, true parameters, plan
        OUT/CASE/CASE_vN/CASE_vN_seg.nii.gz         observed labels (2 edema, 4 enhancing)
        OUT/CASE/CASE_vN/CASE_vN_{t1,t1ce,flair}.nii.gz  SYNTHETIC renderings (when t1 given)
        OUT/CASE/truth/CASE_vN_density.nii.gz       true visible cell density in [0, 1]
        OUT/CASE/truth/brainmask.nii.gz             the simulation domain
    """
    from braintwin.io import save_nifti

    root = out / patient.case_id
    truth = root / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = patient.manifest()
    manifest["synthetic"] = True
    manifest["label"] = SYNTHETIC_LABEL
    save_nifti(patient.brain_mask, truth / "brainmask.nii.gz")
    for i, visit in enumerate(patient.visits):
        name = f"{patient.case_id}_v{i}"
        folder = root / name
        folder.mkdir(exist_ok=True)
        save_nifti(visit.segmentation, folder / f"{name}_seg.nii.gz")
        if t1 is not None:
            if t1.shape != visit.segmentation.shape:
                raise InputError("the brain T1 is not on the simulation grid", "coarsen it too")
            for mod, vol in render_images(t1, visit.segmentation).items():
                save_nifti(vol, folder / f"{name}_{mod}.nii.gz")
        save_nifti(visit.density, truth / f"{name}_density.nii.gz")
        manifest["visits"][i].update({"folder": name, "density": f"truth/{name}_density.nii.gz"})
    atomic_write(root / "synthetic.json", json.dumps(manifest, indent=2, default=str))
    return root
