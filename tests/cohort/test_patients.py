"""Virtual patients of a trial: the MNI152 brain, white-matter seeds, literature sizes, arms."""

from __future__ import annotations

import datetime as dt
import functools
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from braintwin.calibrate.trial import VirtualPatient
from braintwin.cohort.patients import (
    DIAGNOSIS_ML_MEDIAN,
    DIAGNOSIS_ML_RANGE,
    DIAGNOSIS_ML_SIGMA,
    MIN_RESIDUAL_ML,
    draw_cohort,
    residual_from_literature,
    trial_brain,
)
from braintwin.cohort.spec import (
    ArmSpec,
    TrialSettings,
    arm_fingerprint,
    named_arm,
    named_plan,
    parse_arms,
)
from braintwin.errors import InputError
from braintwin.growth.parameters import GrowthParameters
from braintwin.growth.treatment import standard_stupp
from braintwin.types.records import TreatmentPlan


def test_mni_trial_brain_has_tissue_dependent_diffusivity() -> None:
    domain, world = trial_brain("mni", 4.0)
    assert domain.spacing == (4.0, 4.0, 4.0) and world.shape == (3, *domain.shape)
    # World coordinates follow the affine (MNI mm), and the brain is about 1.4-1.9 L.
    np.testing.assert_allclose(world[:, 0, 0, 0], domain.affine[:3, 3])
    assert 1300 < domain.mask.sum() * domain.voxel_volume_mm3 / 1000 < 2000
    d = domain.diffusivity(GrowthParameters(D_w=1.0, rho=0.01))
    wm = domain.mask & (domain.wm > 0.99)
    gm = domain.mask & (domain.gm > 0.99)
    csf = domain.mask & (domain.csf > 0.99)
    assert wm.any() and gm.any()
    np.testing.assert_allclose(d[wm], 1.0, atol=0.01)
    np.testing.assert_allclose(d[gm], 0.1, atol=0.01)  # D_grey = D_w / 10
    assert not csf.any() or float(d[csf].max()) < 0.02  # CSF ~ 0


def test_realistic_patients_sit_in_white_matter_with_literature_sizes() -> None:
    s = TrialSettings(n=60, brain="mni", sizes="literature", resolution_mm=4.0, seed=3)
    pats = draw_cohort(s)
    assert draw_cohort(s) == pats  # reproducible from the seed
    domain, _ = trial_brain("mni", 4.0)
    for p in pats:
        i, j, k = domain.world_to_voxel(p.centre_mm)  # raises outside the brain
        assert domain.wm[i, j, k] >= 0.3  # the seed voxel (jittered within +-half a voxel)
        assert p.tc_ml >= MIN_RESIDUAL_ML
    assert len({p.centre_mm for p in pats}) == 60


def test_literature_size_distribution_matches_its_source() -> None:
    from statistics import NormalDist

    rng = np.random.default_rng(0)
    draws = np.array([residual_from_literature(rng) for _ in range(20000)])
    dx, res = draws[:, 0], draws[:, 1]
    # The log-normal through the published median 18.2 mL and IQR 8.2-41.7 mL, truncated to
    # 1-150 mL: quantile p is exp(mu + sigma * z(a + p (b - a))), a, b the cut-offs' levels.
    nd = NormalDist()
    mu, sigma = math.log(DIAGNOSIS_ML_MEDIAN), DIAGNOSIS_ML_SIGMA
    a, b = (nd.cdf((math.log(x) - mu) / sigma) for x in DIAGNOSIS_ML_RANGE)
    for p, published in ((0.25, 8.2), (0.5, 18.2), (0.75, 41.7)):
        want = math.exp(mu + sigma * nd.inv_cdf(a + p * (b - a)))
        assert np.quantile(dx, p) == pytest.approx(want, rel=0.04)
        assert want == pytest.approx(published, rel=0.12)  # the cut tail moves it a little
    assert dx.min() >= 1.0 and dx.max() <= 150.0
    # Remnant: a quarter gross-total (floored), median 1.3 %, upper quartile 42.9 %.
    frac = res / dx
    assert np.mean(res <= MIN_RESIDUAL_ML + 1e-12) > 0.25
    assert np.quantile(frac, 0.75) == pytest.approx(0.429, abs=0.03)


def _custom_plan(patient: VirtualPatient, start: dt.date, *, fractions: int) -> TreatmentPlan:
    del patient
    return standard_stupp(start).model_copy(update={"name": f"custom-{fractions}"})


def test_arms_are_picklable_specs_with_fingerprints() -> None:
    arms = parse_arms("stupp, rt")
    assert [a.name for a in arms] == ["stupp", "rt"]
    again = pickle.loads(pickle.dumps(arms))
    pat = draw_cohort(TrialSettings(n=2, brain="ball", sizes="residual"))[0]
    start = dt.date(2005, 1, 3)
    assert again[0].plan(pat, start) == named_plan("stupp", pat, start)
    assert arm_fingerprint(arms[0]) == arm_fingerprint(named_arm("stupp"))
    assert arm_fingerprint(arms[0]) != arm_fingerprint(arms[1])
    # A per-patient plan factory (e.g. an optimiser) is a partial of a top-level function.
    opt = ArmSpec("optimised", functools.partial(_custom_plan, fractions=30))
    assert pickle.loads(pickle.dumps(opt)).plan(pat, start).name == "custom-30"
    other = ArmSpec("optimised", functools.partial(_custom_plan, fractions=20))
    assert arm_fingerprint(opt) != arm_fingerprint(other)
    for bad in ("", "stupp,stupp", "stupp,chemo"):
        with pytest.raises(InputError):
            parse_arms(bad)
    with pytest.raises(InputError):
        TrialSettings(n=10, brain="mni", resolution_mm=2.5)
    assert math.isclose(TrialSettings(n=2).horizon_days, 3 * 365.0)


def test_plan_file_arms_use_the_regimen_library_reader(tmp_path: Path) -> None:
    from braintwin.plan.regimens import load_plan_file

    plan_file = tmp_path / "escalated.yaml"
    plan_file.write_text(
        "name: escalated\nradiotherapy: {phases: [{fractions: 30, dose_per_fraction_gy: 2.5}]}\n"
    )
    arms = parse_arms(f"stupp,{plan_file}")
    assert [a.name for a in arms] == ["stupp", "escalated"]
    pat = draw_cohort(TrialSettings(n=2, brain="ball", sizes="residual"))[0]
    start = dt.date(2005, 1, 3)
    want = load_plan_file(plan_file).to_plan(start)
    assert arms[1].plan(pat, start) == want
    assert pickle.loads(pickle.dumps(arms[1])).plan(pat, start) == want
    plan_file.write_text(  # an edited file is another arm (no resume)
        "name: escalated\nradiotherapy: {phases: [{fractions: 30, dose_per_fraction_gy: 2.4}]}\n"
    )
    assert arm_fingerprint(parse_arms(str(plan_file))[0]) != arm_fingerprint(arms[1])
    with pytest.raises(InputError, match="does not exist"):
        parse_arms(str(tmp_path / "missing.json"))
    plan_file.write_text(
        "name: bad\nradiotherapy: {phases: [{fractions: 50, dose_per_fraction_gy: 2}]}\n"
    )
    with pytest.raises(InputError, match="total dose 100"):
        parse_arms(str(plan_file))
