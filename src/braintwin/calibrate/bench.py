"""Simulation-based calibration (SBC) on in-silico patients: do the 90 % intervals cover?

Each synthetic patient (clearly synthetic; Talts et al. 2018 for SBC) comes from the growth
engine's ``synthesize_patient``: the MNI152 brain (nilearn tissue maps) block-averaged to the
bench grid (default 4 mm, so that 50 patients fit in 30 minutes on two heavily shared cores;
2 and 3 mm are options), a seed in white matter, true (D_w, ρ) drawn from the **same**
log-uniform literature prior the calibration uses, an untreated pre-history until a random
detection size (visit 1), a second visit ``interval_days`` later. (The generator redraws
parameters whose tumour is not detectable within 5 years, so the truths follow the prior
conditioned on detection.) The observed segmentations carry the noise the likelihood assumes:
the true density is shifted by a random sub-voxel misregistration (N(0, σ² I), σ = the
likelihood's boundary σ) before thresholding. Calibration sees only the two segmentations (and
the tissue maps), never the true density.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from braintwin.calibrate.calibration import calibrate
from braintwin.calibrate.likelihood import ObservationModel
from braintwin.errors import ModelError
from braintwin.growth import Domain, to_segmentation
from braintwin.types import Modality, Volume

__all__ = ["SyntheticPatient", "fit_temperature", "make_patient", "run_sbc", "time_real_patient"]


@dataclass
class SyntheticPatient:
    """Two synthetic visits with known parameters (labelled synthetic in ``meta``)."""

    truth: dict[str, float]
    visits: list[tuple[dt.date, Volume]]
    brain_mask: Volume
    domain: Domain


def make_patient(
    domain: Domain,
    rng: np.random.Generator,
    *,
    interval_days: float = 90.0,
    observation: ObservationModel | None = None,
) -> SyntheticPatient:
    """One in-silico patient from ``growth.synthesize_patient`` plus observation noise.

    Untreated (``plan_kind="none"``), detected at a random 2-10 mL enhancing volume, visits at
    day 0 and ``interval_days``. Each visit's density is shifted by an independent random
    misregistration before thresholding into a segmentation.
    """
    from braintwin.growth.synthetic import synthesize_patient

    obs = observation or ObservationModel()
    pat = synthesize_patient(
        domain,
        rng,
        visit_days=(0.0, float(interval_days)),
        plan_kind="none",
        detect_ml=float(rng.uniform(2.0, 10.0)),
    )
    visits = []
    for v in pat.visits:
        shift = rng.normal(0.0, obs.boundary_sigma_mm, 3) / np.asarray(domain.spacing)
        moved = ndi.shift(np.asarray(v.density.data, np.float32), shift, order=1, mode="constant")
        seg = to_segmentation(v.density.with_data(np.clip(moved, 0, 1).astype(np.float32)))
        visits.append((v.date, Volume(seg.data, seg.affine, Modality.SEG, {"synthetic": True})))
    truth = {"D_w": pat.params.D_w, "rho": pat.params.rho}
    return SyntheticPatient(truth, visits, domain.mask_volume(), domain)


def run_sbc(
    n: int = 50,
    *,
    seed: int = 0,
    interval_days: float = 90.0,
    resolution_mm: int = 4,
    calibrate_kwargs: dict[str, Any] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """Calibrate ``n`` synthetic patients; coverage of the 90 % intervals and errors.

    Returns the JSON-able result of ``braintwin bench calibrate``.
    """
    from braintwin.growth.tissue import mni152_domain

    if resolution_mm not in (1, 2, 3, 4):
        raise ModelError(f"bench resolution must be 1-4 mm, got {resolution_mm}")
    # The 1 mm atlas block-averaged to the bench grid; calibration runs at that grid too.
    domain = mni152_domain(1).coarsen(resolution_mm) if resolution_mm != 1 else mni152_domain(1)
    kwargs: dict[str, Any] = {"target_mm": float(resolution_mm), "stages": 3, "grid_points": 6}
    kwargs.update(calibrate_kwargs or {})
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    t_all = time.perf_counter()
    attempts = 0
    while len(rows) < n and attempts < 3 * n:
        attempts += 1
        try:
            pat = make_patient(domain, rng, interval_days=interval_days)
        except ModelError:
            continue
        t0 = time.perf_counter()
        post = calibrate(
            pat.visits,
            pat.brain_mask,
            tissue=pat.domain,
            seed=len(rows),
            **kwargs,
        )
        secs = time.perf_counter() - t0
        summ = post.summary()
        row: dict[str, Any] = {"truth": pat.truth, "seconds": secs}
        for _i, (name, true) in enumerate(pat.truth.items()):
            lo, hi = summ[name]["interval_90"]
            logs = post.log_samples[:, post.names.index(name)]
            row[name] = {
                "median": summ[name]["median"],
                "interval_90": [lo, hi],
                "covered": bool(lo <= true <= hi),
                "rel_error": abs(summ[name]["median"] - true) / true,
                # standardised error in log space: its spread sets the temperature
                "z": float((np.log(true) - logs.mean()) / max(logs.std(), 1e-9)),
            }
        row["emulator_error_nats"] = post.diagnostics.get("emulator_check_max_abs_error_nats")
        row["temperature"] = post.observation.temperature
        rows.append(row)
        if progress is not None:
            progress("calibrating synthetic patients", len(rows) / n)
    names = ("D_w", "rho")
    post_temperature = rows[-1]["temperature"] if rows else None
    return {
        "n": len(rows),
        "coverage_90": {k: float(np.mean([r[k]["covered"] for r in rows])) for k in names},
        "median_rel_error": {k: float(np.median([r[k]["rel_error"] for r in rows])) for k in names},
        "seconds_per_patient": float(np.mean([r["seconds"] for r in rows])) if rows else 0.0,
        "total_seconds": time.perf_counter() - t_all,
        "synthetic": True,
        "resolution_mm": resolution_mm,
        "temperature": post_temperature,
        "patients": rows,
    }


def fit_temperature(result: dict[str, Any], current: float) -> float:
    """Likelihood temperature that makes standardised log-errors ~ N(0, 1) (Syring & Martin 2019).

    With a likelihood-dominated, near-Gaussian posterior the posterior s.d. scales as
    sqrt(temperature), so z² scales as 1/temperature. The median of z² (robust to the odd
    failed patient) is matched to the median of a χ²₁ variable, 0.455.
    """
    z = np.array([r[k]["z"] for r in result["patients"] for k in ("D_w", "rho")], float)
    if z.size == 0:
        raise ModelError("no calibrated patients to fit a temperature on")
    return float(max(1.0, current * np.median(z**2) / 0.455))


def time_real_patient(
    seg: Volume,
    brain_mask: Volume,
    *,
    interval_days: float = 60.0,
    truth: tuple[float, float] = (0.3, 0.03),
) -> dict[str, Any]:
    """Time ``calibrate`` on a real-size patient: a real first visit + a SYNTHETIC second one.

    The second visit is grown from the first visit's segmentation with known (D_w, ρ) at the
    segmentation's own resolution (homogeneous brain), so the posterior can be checked too.
    """
    from braintwin.growth import GrowthParameters, density_from_segmentation, simulate

    params = GrowthParameters(D_w=truth[0], rho=truth[1])
    u0 = density_from_segmentation(seg, brain_mask=brain_mask)
    traj = simulate(u0, Domain.homogeneous(brain_mask), params, None, [0.0, interval_days])
    seg2 = to_segmentation(traj.final)
    seg2 = Volume(seg2.data, seg2.affine, Modality.SEG, {"synthetic": True})
    day0 = dt.date(2000, 1, 3)  # synthetic calendar
    t0 = time.perf_counter()
    post = calibrate(
        [(day0, seg), (day0 + dt.timedelta(days=round(interval_days)), seg2)], brain_mask
    )
    return {
        "seconds": time.perf_counter() - t0,
        "shape": list(seg.shape),
        "spacing_mm": list(seg.spacing),
        "truth": {"D_w": truth[0], "rho": truth[1]},
        "summary": post.summary(),
        "diagnostics": post.diagnostics,
        "second_visit": "SYNTHETIC",
    }
