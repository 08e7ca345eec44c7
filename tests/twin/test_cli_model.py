"""The model-facing CLI commands and the report: plans named, regions paired, progress shown.

A real BraTS case (cropped) is the first visit, segmented with its expert label.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from tests.cli import run

from braintwin.cli.steps import step_progress
from braintwin.growth import GrowthParameters
from braintwin.measure import measure_segmentation
from braintwin.report.naming import compartment_label, plan_summary
from braintwin.twin import IngestOptions, Twin
from braintwin.twin.model import ForecastScore, calibrate_twin
from braintwin.twin.reporting import write_report
from braintwin.twin.synthetic import add_insilico_visit

DAY0 = dt.date(2020, 1, 1)


def _segmented_twin(case: Path) -> Twin:
    twin = Twin.open("cli-model-test", create=True)
    opts = IngestOptions(segment=None, classify=False, update_model=False, n4=False)
    twin.add_visit(case, DAY0, options=opts)
    first = twin.visit()
    seg = first.extras["reference_seg"]
    measurements = {str(k): m.to_dict() for k, m in measure_segmentation(seg).items()}
    meta = {**first.meta, "segmentation": {"method": "expert label", "flags": []}}
    twin.store.update_visit(
        twin.id, first.date, segmentation=seg, measurements=measurements, meta=meta
    )
    return twin


# -- fast: no store ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--days", "-10"], "--days must be a positive number of days"),
        (["--days", "0"], "--days must be a positive number of days"),
        (["--days", "30", "--date", "2021-01-01"], "either --days or --date, not both"),
    ],
)
def test_forecast_horizon_is_checked_first(
    home: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    code, out, err = run(["forecast", "nobody", *args], capsys)
    assert code == 2
    assert expected in err and len(err.strip().splitlines()) == 1
    assert out == ""


def test_plain_progress_lines_and_heartbeat() -> None:
    buf = io.StringIO()
    with step_progress("calibrate", heartbeat_s=0.05, quiet_s=0, stream=buf) as update:
        update("forward runs", 0.0)
        update("forward runs", 0.05)  # < 10 % more: no new line
        update("forward runs", 0.5)
        time.sleep(0.3)  # silence: the heartbeat speaks
        update("sampling", 0.9)
    lines = buf.getvalue().splitlines()
    assert lines[0].startswith("calibrate: started")
    assert sum(ln.startswith("calibrate: forward runs (") for ln in lines) == 2
    assert any("still working: forward runs (50%)" in ln for ln in lines)
    assert "calibrate: sampling (90%)" in buf.getvalue()
    assert lines[-1].startswith("calibrate: done")


def test_quick_work_prints_no_progress_lines() -> None:
    """Within the quiet start a command that ends (or fails) prints only its result."""
    buf = io.StringIO()
    with step_progress("ingest", quiet_s=60, stream=buf) as update:
        update("reading the images", 0.0)
        update("preprocessing", 0.5)
    assert buf.getvalue() == ""


def test_naming_helpers() -> None:
    assert compartment_label("enhancing") == "T1ce-visible tumour (TC)"
    assert compartment_label("flair") == "FLAIR-visible tumour (WT)"
    assert plan_summary(None) == "none (untreated growth)"
    old = ForecastScore.from_dict(
        {
            "forecast_from": "2020-01-01",
            "target_date": "2020-03-01",
            "dice_enhancing": 0.1,
            "observed_enhancing_ml": 0.5,
            "predicted_enhancing_ml_median": 141.1,
            "volume_error_ml": 140.6,
        }
    )
    assert (old.region, old.legacy, old.dice, old.observed_ml) == ("ET", True, 0.1, 0.5)
    new = ForecastScore.from_dict(
        {
            "forecast_from": "2020-01-01",
            "target_date": "2020-03-01",
            "region": "TC",
            "dice": 0.6,
            "observed_ml": 87.0,
            "predicted_ml_median": 141.1,
            "volume_error_ml": 54.1,
            "compartment": "enhancing",
            "source": "mcmc",
            "plan": "stupp",
        }
    )
    assert (new.region, new.legacy, new.predicted_ml_median, new.volume_error_ml) == (
        "TC",
        False,
        141.1,
        54.1,
    )


def test_one_visit_banner_dropped_after_more_visits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Assimilating a visit into a prior-only posterior does not carry its one-visit banner."""
    from braintwin.calibrate import calibration

    note = "one visit only: no growth can be measured yet, so the 'posterior' is the prior"
    previous = SimpleNamespace(
        source="prior",
        notes=[note],
        last_date=DAY0,
        visit_dates=[DAY0],
        names=("D_w", "rho"),
        log_samples=None,
        prior=SimpleNamespace(names=("D_w", "rho")),
        last_seg=None,
        brain_mask=None,
        plan=None,
        observation=None,
    )
    fresh = SimpleNamespace(notes=["other"], visit_dates=[])
    monkeypatch.setattr(calibration, "calibrate", lambda *a, **k: fresh)
    monkeypatch.setattr(calibration.Prior, "from_samples", lambda *a, **k: None)
    later = DAY0 + dt.timedelta(60)
    post = calibration.assimilate(previous, (later, None))  # type: ignore[arg-type]
    assert post.notes == ["other"]


# -- with a real case ---------------------------------------------------------------------------
@pytest.mark.slow
def test_grow_uses_the_stored_plan_and_names_regions(
    home: Path, cropped_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    twin = _segmented_twin(cropped_case(30))
    last = twin.visit_dates()[-1]  # shifted: the twin's timeline
    until = str(last + dt.timedelta(days=21))
    code, out, err = run(["grow", twin.id, "--until", until, "-o", str(home / "g0")], capsys)
    assert code == 0, err
    assert "plan: none (untreated growth) (no plan stored" in out
    assert run(["plan", twin.id, "stupp"], capsys)[0] == 0
    code, out, err = run(["grow", twin.id, "--until", until, "-o", str(home / "g1")], capsys)
    assert code == 0, err
    start = last + dt.timedelta(days=1)
    assert f"plan: 'stupp-60Gy-30fx' from {start}: 60 Gy in 30 fractions + temozolomide" in out
    assert "(the twin's stored plan)" in out
    assert "T1ce-visible tumour (TC)" in out and "FLAIR-visible tumour (WT)" in out
    assert "enhancing " not in out  # no bare "enhancing" volume
    summary = json.loads((home / "g1" / "summary.json").read_text())
    assert summary["plan"].startswith("'stupp-60Gy-30fx' from")
    assert summary["compartment_regions"] == {"enhancing": "TC", "flair": "WT"}
    code, out, _ = run(
        ["grow", twin.id, "--until", until, "--plan", "none", "-o", str(home / "g2")], capsys
    )
    assert code == 0 and "plan: 'none'" in out and "(given with --plan)" in out
    code, _, err = run(["grow", twin.id, "--until", str(last)], capsys)
    assert code == 2 and "not after the latest visit" in err


@pytest.mark.slow
def test_forecast_and_report_name_plan_regions_and_staleness(
    home: Path, cropped_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    twin = _segmented_twin(cropped_case(30))
    html = write_report(twin).read_text()
    assert "Model status" in html and "has not been calibrated" in html
    calibrate_twin(twin)  # one visit: the prior
    code, out, err = run(["forecast", twin.id, "--days", "14", "--plan", "hypo"], capsys)
    assert code == 0, err
    start = twin.visit_dates()[-1] + dt.timedelta(days=1)
    assert f"from {start}: 40 Gy in 15 fractions" in out and "(given with --plan)" in out
    assert "plan: 'hypo" in out
    assert "T1ce-visible tumour (TC)" in out and "FLAIR-visible tumour (WT)" in out
    # scores of both formats (older records compared a TC-sized prediction with ET)
    old = {"forecast_from": "2020-01-01", "target_date": "2020-01-15", "dice_enhancing": 0.05}
    old |= {"observed_enhancing_ml": 0.5, "predicted_enhancing_ml_median": 141.1}
    new = {"forecast_from": "2020-01-01", "target_date": "2020-01-15", "region": "TC"}
    new |= {"dice": 0.61, "observed_ml": 87.04, "predicted_ml_median": 141.1}
    for rec in (old, new):
        rec["volume_error_ml"] = rec.get("predicted_ml_median", 141.1) - rec.get(
            "observed_ml", rec.get("observed_enhancing_ml", 0.0)
        )
        twin.store.save_artifact(twin.id, "forecast_score", rec)
    html = write_report(twin).read_text()
    assert "Model status" not in html
    assert re.search(r"Treatment plan assumed:</b> &#x27;hypo-40Gy-15fx&#x27; from ", html)
    assert "(given with --plan)" in html
    assert "T1ce-visible tumour (TC)" in html and "FLAIR-visible tumour (WT)" in html
    assert "ET (old scoring)" in html and "<td>TC</td>" in html
    text = re.sub(r'src="data:image/png;base64,[^"]*"', "", html)
    assert not re.search(r"\d\.\d{7,}", text), "unformatted float in the report"
    assert "{&#39;" not in text and "{'" not in text, "raw dict in the report"
    # a new segmented visit the model has not seen: the report and forecast say so
    add_insilico_visit(twin, 30, GrowthParameters(D_w=0.1, rho=0.02))
    newest = twin.visit_dates()[-1]
    html = write_report(twin).read_text()
    assert f"have not seen the visit of {newest}" in html
    assert f"braintwin update {twin.id}" in html
    assert f"newer visit ({newest}) exists" in html
    code, out, err = run(["measure", twin.id], capsys)
    assert code == 0, err
    first = twin.visit_dates()[0]
    assert re.search(rf"RANO-style response (PD|SD|PR|CR) against the baseline {first}", out)
    code, out, _ = run(["forecast", twin.id, "--days", "7"], capsys)
    assert code == 0
    assert f"warning: the model has not seen the visit(s) of {newest}" in out
    assert f"run `braintwin update {twin.id}`" in out


@pytest.mark.slow
def test_segment_uncertainty_is_exported_and_reported(
    home: Path, cropped_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    twin = _segmented_twin(cropped_case(30))
    out_dir = home / "export"
    code, out, err = run(["segment", twin.id, "--uncertainty", "--export", str(out_dir)], capsys)
    assert code == 0, err
    assert "uncertainty map stored" in out
    assert (out_dir / "uncertainty.nii.gz").is_file() and (
        out_dir / "segmentation.nii.gz"
    ).is_file()
    import nibabel as nib
    import numpy as np

    unc = nib.load(out_dir / "uncertainty.nii.gz")
    seg = nib.load(out_dir / "segmentation.nii.gz")
    assert unc.shape == seg.shape  # both on the native grid of the reference image
    np.testing.assert_allclose(unc.affine, seg.affine, atol=1e-4)
    values = np.asarray(unc.dataobj)
    assert values.min() >= 0.0 and values.max() <= 1.0 and values.max() > 0.0
    html = write_report(twin).read_text()
    assert "Segmentation uncertainty" in html


def test_cli_plan_names_are_the_growth_plans() -> None:
    from braintwin.cli.twin_model import PLAN_CHOICES
    from braintwin.growth.treatment import PLANS

    assert set(PLAN_CHOICES) == set(PLANS)
