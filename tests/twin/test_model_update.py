"""The twin updates itself: calibrate, forecast, score the forecast, assimilate the next visit.

A real BraTS case (cropped) is the first visit, segmented with its expert label; the later
visits are SYNTHETIC (grown by the model with known parameters) so the answer is known.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from braintwin.cli import main
from braintwin.growth import GrowthParameters
from braintwin.twin import IngestOptions, Twin
from braintwin.twin.model import forecast_scores, latest_posterior, update_after_visit
from braintwin.twin.synthetic import add_insilico_visit

TRUTH = GrowthParameters(D_w=0.15, rho=0.03)


@pytest.mark.slow
def test_twin_calibrates_scores_and_assimilates(
    home: Path, cropped_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    case = cropped_case(40)
    twin = Twin.open("model-test", create=True)
    opts = IngestOptions(segment=None, classify=False, update_model=False, n4=False)
    twin.add_visit(case, dt.date(2020, 1, 1), options=opts)
    first = twin.visit()
    twin.store.update_visit(twin.id, first.date, segmentation=first.extras["reference_seg"])

    d2 = add_insilico_visit(twin, 60, TRUTH)
    up2 = update_after_visit(twin, d2)
    assert up2.posterior is not None and up2.posterior.source == "mcmc"
    assert up2.scores == []  # nothing to score before the first posterior
    assert len(up2.forecasts) == 1

    d3 = add_insilico_visit(twin, 60, TRUTH)
    up3 = update_after_visit(twin, d3)
    # The forecast of visit 3 made from the state after visit 2 was scored, then assimilated.
    # Each compartment is scored against the region it predicts: T1ce-visible vs the tumour
    # core TC (not the enhancing rim ET), FLAIR-visible vs the whole tumour WT.
    assert {(s.compartment, s.region) for s in up3.scores} == {("enhancing", "TC"), ("flair", "WT")}
    score = next(s for s in up3.scores if s.region == "TC")
    assert score.target_date == str(d3) and score.forecast_from == str(d2)
    assert 0.0 <= score.dice <= 1.0
    post = latest_posterior(twin)
    assert post is not None and post.visit_dates[-1] == d3
    assert len(twin.store.artifacts(twin.id, "posterior", load_volumes=False)) == 2
    assert forecast_scores(twin) == up3.scores
    assert not twin.model_status().stale
    # The truth lies inside the posterior's 90 % interval (synthetic data from the same model).
    for name in ("D_w", "rho"):
        lo, hi = post.summary()[name]["interval_90"]
        assert lo <= getattr(TRUTH, name) <= hi, (name, lo, hi)

    try:
        main(["show", twin.id])
    except SystemExit as ex:
        assert not ex.code
    out = capsys.readouterr().out
    assert f"forecast for {d3} made from {d2}" in out and "vs observed TC" in out
    assert "posterior(s)" in out
