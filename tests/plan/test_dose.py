"""Dose bookkeeping: known BED/EQD2 answers and the normal-brain measure."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from braintwin.plan.dose import PENUMBRA_SIGMA_MM, bed, eqd2, normal_brain_dose, relative_dose_map
from braintwin.plan.predictive import cvar_low
from braintwin.plan.regimens import regimen_plan
from braintwin.types import Modality, Volume


def test_bed_eqd2_known_answers() -> None:
    stupp = [2.0] * 30
    assert bed(stupp, 10.0) == pytest.approx(72.0)
    assert eqd2(stupp, 10.0) == pytest.approx(60.0)  # 2 Gy fractions: EQD2 = physical dose
    assert bed(stupp, 2.0) == pytest.approx(120.0)
    assert bed([5.0] * 5, 2.0) == pytest.approx(87.5)  # Roa 25/5 in normal brain
    assert eqd2([5.0] * 5, 10.0) == pytest.approx(31.25)


def test_cvar_low() -> None:
    v = np.arange(1.0, 21.0)  # 1..20: the worst 10 % are 1 and 2
    assert cvar_low(v, 0.1) == pytest.approx(1.5)
    assert cvar_low(np.array([7.0]), 0.1) == 7.0


def _ball(shape: int, r: float) -> np.ndarray:
    idx = np.indices((shape,) * 3) - (shape - 1) / 2
    return np.sqrt((idx**2).sum(0)) <= r


def test_relative_dose_map_is_one_in_the_target_and_falls_off() -> None:
    tum = _ball(81, 5)
    brain = np.ones_like(tum)
    rel = relative_dose_map(tum, brain, (1.0, 1.0, 1.0), 5.0)
    target = _ball(81, 9.0)
    assert np.all(rel[target] == 1.0)
    # 4 mm beyond the 10 mm target edge: exp(-(4/σ)²/2) for σ = PENUMBRA_SIGMA_MM
    assert rel[40, 40, 40 + 14] == pytest.approx(
        np.exp(-0.5 * (4 / PENUMBRA_SIGMA_MM) ** 2), abs=0.05
    )
    assert rel[40, 40, 0] < 0.001


def test_normal_brain_dose_orders_plans() -> None:
    aff = np.eye(4)
    tum = Volume(_ball(61, 8).astype(np.uint8), aff, Modality.MASK)
    brain = Volume(np.ones((61,) * 3, np.uint8), aff, Modality.MASK)
    day = dt.date(2024, 1, 1)
    d = {
        n: normal_brain_dose(regimen_plan(n, day), tum, brain)
        for n in ("stupp", "escalated-75-30", "hypo-25-5", "none")
    }
    assert d["none"].v30_ml == 0.0 and d["none"].bed_prescription_gy == 0.0
    assert d["stupp"].bed_prescription_gy == pytest.approx(120.0)
    # Under Stupp EQD2(r) = 30 r + 30 r² (α/β 2) >= 30 Gy where r >= 0.618: the 15 mm target
    # (a 23 mm ball) plus the penumbra out to s = σ sqrt(2 ln(1/0.618)), minus the tumour.
    r_star = (np.sqrt(5) - 1) / 2
    outer = 23 + PENUMBRA_SIGMA_MM * np.sqrt(2 * np.log(1 / r_star))
    shell_ml = (4 / 3 * np.pi * (outer**3 - 8**3)) / 1000
    assert d["stupp"].v30_ml == pytest.approx(shell_ml, rel=0.08)
    assert d["escalated-75-30"].v30_ml > d["stupp"].v30_ml > d["hypo-25-5"].v30_ml
    assert d["escalated-75-30"].mean_eqd2_gy > d["stupp"].mean_eqd2_gy
