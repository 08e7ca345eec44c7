"""Decision support on a twin: compare and optimise plans under its posterior.

The first visit is a real BraTS case (cropped, expert label); the second is SYNTHETIC, grown
by the model with known parameters, so the twin has a calibrated (MCMC) posterior.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from braintwin.cli import main
from braintwin.errors import InputError, NotFoundError
from braintwin.growth import GrowthParameters
from braintwin.plan.dose import NORMAL_BRAIN_ALPHA_BETA_GY, bed
from braintwin.twin import IngestOptions, Twin
from braintwin.twin.model import update_after_visit
from braintwin.twin.synthetic import add_insilico_visit

TRUTH = GrowthParameters(D_w=0.15, rho=0.03)
OPTS = IngestOptions(segment=None, classify=False, update_model=False, n4=False)


def _first_visit(case: Path, name: str) -> Twin:
    twin = Twin.open(name, create=True)
    twin.add_visit(case, dt.date(2020, 1, 1), options=OPTS)
    v = twin.visit()
    twin.store.update_visit(twin.id, v.date, segmentation=v.extras["reference_seg"])
    return twin


def _run(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as ex:
        assert not ex.code, ex.code


@pytest.mark.slow
def test_compare_and_optimise_plans(
    home: Path, cropped_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    twin = _first_visit(cropped_case(40), "plans-test")
    # One visit: no calibrated model to judge plans by, and the error says what to do.
    with pytest.raises(NotFoundError, match="braintwin calibrate"):
        twin.compare_plans(["stupp"])
    update_after_visit(twin, add_insilico_visit(twin, 60, TRUTH))

    cmp = twin.compare_plans(["stupp", "rt", "none"], n_samples=4, horizon_days=120)
    by = {o.plan.name: o for o in cmp.outcomes}
    # Paired samples: treatment can only remove cells, temozolomide on top of the same
    # radiotherapy removes more. Per sample, at every assessment after the first fraction.
    late = cmp.outcomes[0].days >= 14
    assert np.all(by["none"].tc_ml_samples[:, late] >= by["rt"].tc_ml_samples[:, late] - 1e-6)
    assert np.all(by["rt"].tc_ml_samples[:, late] >= by["stupp"].tc_ml_samples[:, late] - 1e-6)
    s = {x.name: x for x in cmp.summaries}
    assert s["none"].normal_brain.v30_ml == 0.0 < s["stupp"].normal_brain.v30_ml
    assert s["stupp"].total_dose_gy == 60.0 and s["stupp"].temozolomide
    stored = twin.store.latest_artifact(twin.id, "plan_comparison", load_volumes=False)
    assert stored is not None and [p["name"] for p in stored.payload["plans"]] == [
        "stupp",
        "rt",
        "none",
    ]

    # The model CTV as every plan's dose map (plan.target): the plan's own margin is unused.
    model = twin.compare_plans(["stupp"], n_samples=2, horizon_days=60, target="model")
    assert any("model CTV" in n for n in model.notes)
    assert model.summaries[0].normal_brain.v30_ml > 0

    from braintwin.twin.reporting import write_report

    report = write_report(twin).read_text()
    assert "Treatment plans compared" in report and "stupp" in report

    out = home / "plans-out"
    _run(
        [
            "plans",
            "compare",
            twin.id,
            "--plans",
            "stupp,hypo-25-5",
            "--samples",
            "4",
            "--horizon-days",
            "90",
            "--out",
            str(out),
        ]
    )
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [p["name"] for p in last["plans"]] == ["stupp", "hypo-25-5"]
    assert (out / f"{twin.id}_plans.png").stat().st_size > 1000

    opt = twin.optimise_plan(
        "stupp", objective="ttp", n_samples=4, search_samples=2, maxiter=1, horizon_days=150
    )
    best = opt.result.best
    doses = [f.dose_gy for f in best.to_plan(dt.date(2024, 1, 1)).radiotherapy.fractions]
    assert sum(doses) == pytest.approx(60.0)
    assert bed(doses, NORMAL_BRAIN_ALPHA_BETA_GY) <= 120.0 + 1e-6
    assert all(1.5 - 1e-9 <= d <= 5.0 + 1e-9 for d in doses)
    # The search starts from the reference, so on the search samples it is never worse.
    search = opt.result.search
    assert search["best"]["cvar10_ttp_days"] >= search["reference"]["cvar10_ttp_days"]
    assert [x.name for x in opt.verification.summaries] == ["stupp", best.name]
    better, verdict = opt.verdict()
    assert (
        verdict.startswith("on all 4 samples the optimised plan") and ("NOT" in verdict) != better
    )


@pytest.mark.slow
def test_one_visit_twin_is_refused_unless_asked(
    home: Path, cropped_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    twin = _first_visit(cropped_case(40), "plans-one")
    update_after_visit(twin, twin.visit().date)  # one visit: the "posterior" is the prior
    with pytest.raises(InputError, match="one visit only"):
        twin.compare_plans(["stupp"])
    cmp = twin.compare_plans(["stupp"], n_samples=2, horizon_days=60, allow_prior=True)
    assert any("prior" in n for n in cmp.notes)
    with pytest.raises(SystemExit) as ex:
        main(["plans", "compare", twin.id, "--plans", "nonsense"])
    assert ex.value.code == 2
    assert "unknown plan 'nonsense'" in capsys.readouterr().err
