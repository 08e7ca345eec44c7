"""Dose bookkeeping: BED/EQD2 of fractionated radiotherapy and the normal-brain dose measure.

Linear-quadratic isoeffect (Fowler 1989): a course of fractions d_i has biologically effective
dose BED = Σ d_i (1 + d_i / (α/β)) and equivalent dose in 2 Gy fractions
EQD2 = BED / (1 + 2 / (α/β)). Tumour α/β = 10 Gy; late-responding normal brain α/β = 2 Gy
(QUANTEC brain, Lawrence et al. 2010, IJROBP 76:S20).

Normal-brain measure (what a plan costs the healthy brain): the dose is the prescription inside
the target (visible tumour + the plan's margin, within the brain: covered by the prescription,
as a plan is) and falls off with the distance s beyond it as exp(-s²/2σ²), σ = 5.3 mm: the
dose drops from 80 % to 20 % over about 6 mm, typical of modern photon plans. The *relative*
dose r(x) ∈ [0, 1] scales every fraction. Per voxel
EQD2(x) = (r Σd_i + r² Σd_i² / (α/β)) / (1 + 2 / (α/β)). Reported: the volume of non-tumour
brain with EQD2 ≥ 30 Gy (mL; V30, a common brain-necrosis / neurocognition constraint), the
mean normal-brain EQD2 and the normal-brain BED at the prescription (the constraint the
optimiser keeps at or below the standard plan's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from braintwin.growth.treatment import target_dose_map
from braintwin.types.records import TreatmentPlan
from braintwin.types.volume import Volume

__all__ = [
    "NORMAL_BRAIN_ALPHA_BETA_GY",
    "PENUMBRA_SIGMA_MM",
    "V_DOSE_GY",
    "NormalBrainDose",
    "bed",
    "eqd2",
    "normal_brain_dose",
    "relative_dose_map",
]

NORMAL_BRAIN_ALPHA_BETA_GY = 2.0
PENUMBRA_SIGMA_MM = 5.3  # 80 % at 0.67σ, 20 % at 1.79σ: 6 mm apart
V_DOSE_GY = 30.0


def bed(doses_gy: np.ndarray | list[float], alpha_beta_gy: float) -> float:
    """Biologically effective dose (Gy) of fractions ``doses_gy``."""
    d = np.asarray(doses_gy, dtype=float)
    return float(np.sum(d * (1.0 + d / alpha_beta_gy)))


def eqd2(doses_gy: np.ndarray | list[float], alpha_beta_gy: float) -> float:
    """Equivalent dose in 2 Gy fractions (Gy) of fractions ``doses_gy``."""
    return bed(doses_gy, alpha_beta_gy) / (1.0 + 2.0 / alpha_beta_gy)


@dataclass(frozen=True)
class NormalBrainDose:
    """Dose to the brain outside the visible tumour (α/β = 2 Gy)."""

    v30_ml: float  # non-tumour brain with EQD2 >= 30 Gy (mL)
    mean_eqd2_gy: float  # mean EQD2 over the non-tumour brain (Gy)
    bed_prescription_gy: float  # BED of the prescription in normal brain (Gy)


def relative_dose_map(
    tumour: np.ndarray, brain: np.ndarray, spacing_mm: tuple[float, float, float], margin_mm: float
) -> np.ndarray:
    """Relative dose (float32; 1 in the target, Gaussian penumbra outside, 0 outside the brain)."""
    target = target_dose_map(tumour, brain, spacing_mm, margin_mm) > 0
    out = np.zeros(target.shape, dtype=np.float32)
    if not target.any():
        return out
    # Only a box around the target (grown by 4σ, where the dose is < 0.04 %) needs distances.
    reach = margin_mm + 4.0 * PENUMBRA_SIGMA_MM
    idx = np.nonzero(target)
    box = tuple(
        slice(
            max(0, int(i.min()) - int(np.ceil(reach / s))),
            int(i.max()) + int(np.ceil(reach / s)) + 1,
        )
        for i, s in zip(idx, spacing_mm, strict=True)
    )
    dist = ndimage.distance_transform_edt(~target[box], sampling=spacing_mm)
    out[box] = np.exp(-0.5 * (dist / PENUMBRA_SIGMA_MM) ** 2)
    return out * brain


def normal_brain_dose(
    plan: TreatmentPlan | None, tumour: Volume, brain: Volume, *, target: Volume | None = None
) -> NormalBrainDose:
    """The normal-brain measure of ``plan`` for the visible tumour ``tumour`` (mask volume);
    ``target``: an explicit target (e.g. a CTV) instead of the tumour + the plan's margin."""
    if plan is None or plan.radiotherapy is None:
        return NormalBrainDose(0.0, 0.0, 0.0)
    doses = np.array([f.dose_gy for f in plan.radiotherapy.fractions])
    tum = np.asarray(tumour.data) > 0
    br = (np.asarray(brain.data) > 0) | tum
    if target is not None:
        rel = relative_dose_map(np.asarray(target.data) > 0, br, tumour.spacing, 0.0)
    else:
        rel = relative_dose_map(tum, br, tumour.spacing, plan.radiotherapy.target_margin_mm)
    ab = NORMAL_BRAIN_ALPHA_BETA_GY
    normal = br & ~tum
    r = rel[normal].astype(np.float64)
    e = (r * doses.sum() + r * r * np.sum(doses**2) / ab) / (1.0 + 2.0 / ab)
    vox_ml = float(np.prod(tumour.spacing)) / 1000.0
    return NormalBrainDose(
        v30_ml=float(np.count_nonzero(e >= V_DOSE_GY)) * vox_ml,
        mean_eqd2_gy=float(e.mean()) if e.size else 0.0,
        bed_prescription_gy=bed(doses, ab),
    )
