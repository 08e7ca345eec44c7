"""Progression pairs (real data + a SYNTHETIC pair folder) and the forecast CLI commands.

Real data: the six shared pairs when ../shared/data is present (``shared_data``), else the one
cropped real pair shipped in tests/data/progression (``progression_dir``, ``shipped_progression``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from braintwin.calibrate.progression import (
    ASSUMED_SPACING_MM,
    align_follow_up,
    head_mask,
    load_progression,
    pair_files,
)
from braintwin.cli import main
from braintwin.errors import InputError
from braintwin.preprocess.geometry import apply_transform


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def test_real_pairs_load_with_spacing_override(shared_data: Path) -> None:
    pairs = load_progression(shared_data / "progression", align=False)
    assert [p.pair_id for p in pairs] == ["01", "03", "05", "06", "09", "10"]
    p = pairs[0]
    assert p.pre_date == dt.date(1996, 8, 13) and p.post_date == dt.date(1997, 1, 17)
    assert p.interval_days == 157
    assert p.pre_mask.spacing == ASSUMED_SPACING_MM
    assert p.pre_mask.meta["spacing_override"] == [1.0, 1.0, 5.0]
    assert p.pre_mask.data.dtype == bool and p.pre_mask.data.sum() == 8246
    head = head_mask(p.pre_t1).data
    assert 0.2 < head.mean() < 0.9  # the head, not the whole field of view
    assert head[p.pre_mask.data].mean() > 0.8  # the tumour lies inside it


def test_shipped_pair_loads_with_known_numbers(shipped_progression: Path) -> None:
    """Known answers of the shipped cropped pair (tests/data/PROVENANCE.md)."""
    (files,) = pair_files(shipped_progression)
    assert files.pair_id == "10" and files.interval_days == 90
    (pair,) = load_progression(shipped_progression, align=False)
    assert pair.pre_date == dt.date(1991, 7, 4) and pair.post_date == dt.date(1991, 10, 2)
    assert pair.pre_mask.spacing == ASSUMED_SPACING_MM and pair.pre_mask.shape == (83, 92, 24)
    assert int(pair.pre_mask.data.sum()) == 338 and int(pair.post_mask.data.sum()) == 160
    head = head_mask(pair.pre_t1).data
    assert head[pair.pre_mask.data].mean() > 0.8  # the tumour lies inside the head


def test_alignment_recovers_a_known_shift_on_a_real_scan(progression_dir: Path) -> None:
    """Known answer: the follow-up is the baseline moved by (4, -3, 0) mm."""
    pairs = load_progression(progression_dir, align=False)
    pair = pairs[3] if len(pairs) > 3 else pairs[-1]
    shift = np.eye(4)
    shift[:3, 3] = (4.0, -3.0, 0.0)
    moved_t1 = apply_transform(pair.pre_t1, shift, pair.pre_t1, order=1)
    soft = pair.pre_mask.with_data(pair.pre_mask.data.astype(np.float32))
    moved_mask = apply_transform(soft, shift, pair.pre_mask, order=1).data >= 0.5
    fake = dataclasses.replace(
        pair, post_t1=moved_t1, post_mask=pair.pre_mask.with_data(moved_mask)
    )
    assert _dice(fake.pre_mask.data, fake.post_mask.data) < 0.75
    aligned = align_follow_up(fake)
    record = aligned.post_mask.meta["alignment"]
    assert record["accepted"]
    assert np.allclose(np.asarray(record["matrix"])[:3, 3], (-4.0, 3.0, 0.0), atol=0.7)
    assert _dice(aligned.pre_mask.data, aligned.post_mask.data) > 0.9


def test_alignment_improves_no_growth_overlap_on_real_pairs(shared_data: Path) -> None:
    raw = load_progression(shared_data / "progression", align=False)
    aligned = [align_follow_up(p) for p in raw[:3]]
    before = [_dice(p.pre_mask.data, p.post_mask.data) for p in raw[:3]]
    after = [_dice(p.pre_mask.data, p.post_mask.data) for p in aligned]
    assert np.mean(after) > np.mean(before) + 0.02
    for p in aligned:
        assert p.post_mask.data.dtype == bool and p.post_mask.shape == p.pre_mask.shape
        assert p.post_mask.meta["alignment"]["accepted"]


def _write_pair(root: Path, pid: str, r_pre: float, r_post: float, shift: int = 0) -> None:
    shape = (48, 48, 8)
    idx = np.indices(shape).astype(float)
    d = np.sqrt((idx[0] - 24) ** 2 + (idx[1] - 24 - shift) ** 2 + ((idx[2] - 4) * 5) ** 2)
    head = np.sqrt((idx[0] - 24) ** 2 + (idx[1] - 24) ** 2) < 22
    t1 = np.where(head, 1000.0, 5.0)
    folder = root / pid
    folder.mkdir(parents=True)
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])  # header claims 1 mm, like the real data
    for name, arr in (
        ("Pre_Scan_T1", t1),
        ("Post_Scan_T1", t1),
        ("Pre_Mask", (d <= r_pre).astype(np.float64)),
        ("Post_Mask", (d <= r_post).astype(np.float64)),
    ):
        nib.save(nib.Nifti1Image(arr, aff), str(folder / f"{name}.nii.gz"))


@pytest.fixture
def synthetic_pairs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two SYNTHETIC growing balls in the progression layout (leading spaces in the CSV)."""
    monkeypatch.setenv("BRAINTWIN_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "pairs"
    _write_pair(root, "01", 6.0, 9.0)
    _write_pair(root, "02", 8.0, 10.0, shift=1)
    (root / "supplementary.csv").write_text(
        "id, sliceCount, initialDate, endDate, notes\n"
        "01, 8, 2000-01-01, 2000-03-01, \n02, 8, 2001-05-01, 2001-06-20, \n"
    )
    return root


def test_bad_layout_errors(tmp_path: Path, synthetic_pairs: Path) -> None:
    with pytest.raises(InputError, match="supplementary"):
        load_progression(tmp_path)
    (synthetic_pairs / "supplementary.csv").write_text(
        "id, initialDate, endDate\n01, 2000-03-01, 2000-01-01\n02, 2001-05-01, 2001-06-20\n"
    )
    with pytest.raises(InputError, match="not after"):
        load_progression(synthetic_pairs)


def _run(argv: list[str]) -> None:
    """Run the CLI in-process; typer's standalone mode ends with SystemExit(0) on success."""
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code


def _last_json(capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_train_forecast_cli_says_it_is_training(
    synthetic_pairs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pop = tmp_path / "population.json"
    _run(
        [
            "train",
            "forecast",
            str(synthetic_pairs),
            "--out",
            str(pop),
            "--grid-points",
            "4",
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert "training, not evaluation" in out
    trained = json.loads(out.strip().splitlines()[-1])
    assert trained["trained_on"]["n"] == 2 and trained["uniform_expansion"]["rate_mm_per_day"] > 0
    assert json.loads(pop.read_text())["prior"]["kind"] == "log-normal"


def test_pair_files_lists_paths_and_dates(synthetic_pairs: Path) -> None:
    files = pair_files(synthetic_pairs)
    assert [f.pair_id for f in files] == ["01", "02"]
    assert files[1].interval_days == 50 and files[0].post_mask.name == "Post_Mask.nii.gz"
    (synthetic_pairs / "02" / "Post_Scan_T1.nii.gz").unlink()
    with pytest.raises(InputError, match="Post_Scan_T1"):
        pair_files(synthetic_pairs)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--spacing", "1,1"], "not a voxel size"),
        (["--spacing", "1,x,5"], "not a voxel size"),
        (["--segment", "magic"], "unknown --segment"),
        (["--loo"], "at least 2 pairs"),
        (["--pair", "99"], "no pair folder"),
    ],
)
def test_eval_forecast_bad_options_fail_before_ingesting(
    shipped_progression: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "forecast", str(shipped_progression), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_eval_forecast_without_population_file_is_a_clear_error(
    shipped_progression: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "eval",
                "forecast",
                str(shipped_progression),
                "--population",
                str(tmp_path / "none.json"),
            ]
        )
    assert exc.value.code == 2
    assert "train forecast" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_forecast_runs_the_twin_on_a_real_pair(
    shipped_progression: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One path: the real pair goes through Twin.add_visit (spacing override, expert masks as
    the visits' segmentations); the twin's stored score and both baselines in one JSON."""
    monkeypatch.setenv("BRAINTWIN_DB_URL", "sqlite:////nonexistent/must-not-be-used.db")
    _run(["eval", "forecast", str(shipped_progression), "--quiet"])
    res = _last_json(capsys)
    assert res["n"] == 1 and res["spacing_mm"] == [1.0, 1.0, 5.0]
    assert res["segmentation"] == "expert" and "twin" in res["path"].lower()
    (row,) = res["pairs"]
    assert row["pair"] == "10" and row["interval_days"] == 90
    assert row["input_spacing_mm"] == [1.0, 1.0, 5.0]
    # Known answer: the masks hold 338 and 160 voxels of 1 x 1 x 5 mm (1.69 and 0.80 mL); the
    # twin resamples them to its 1 mm grid (nearest neighbour), which keeps the volume close.
    assert row["baseline_ml"] == pytest.approx(1.69, rel=0.15)
    assert row["observed_ml"] == pytest.approx(0.80, rel=0.15)
    assert row["twin"]["observed_ml_twin"] == pytest.approx(row["observed_ml"], abs=0.01)
    assert row["alignment"]["method"].startswith("twin ingest")
    assert row["alignment"]["rms_shift_mm"] < 25
    assert row["observed_region"] in ("TC", "ET")
    for m in ("twin", "no_growth", "uniform_expansion"):
        assert 0 <= row[m]["dice"] <= 1 and row[m]["volume_error"] >= 0
        assert res[m]["dice"] == pytest.approx(row[m]["dice"], abs=1e-4)
    # no_growth predicts the baseline volume; its relative error follows from the two volumes.
    assert row["no_growth"]["predicted_ml"] == pytest.approx(row["baseline_ml"])
    assert row["no_growth"]["volume_error"] == pytest.approx(
        abs(row["baseline_ml"] - row["observed_ml"]) / row["observed_ml"], rel=0.01
    )


def _ball(r: float, shape: tuple[int, int, int] = (40, 40, 40)) -> np.ndarray:
    idx = np.indices(shape).astype(float)
    return np.sqrt(((idx - 20) ** 2).sum(axis=0)) <= r


def test_score_outcomes_known_answers() -> None:
    """SYNTHETIC balls growing 0.05 mm/day: leave-one-out recovers the rate for every pair."""
    from braintwin.calibrate.evaluation import PairOutcome, TwinScore, score_outcomes

    outcomes = [
        PairOutcome(
            str(i),
            days,
            _ball(5.0),
            _ball(5.0 + 0.05 * days),
            (1.0, 1.0, 1.0),
            TwinScore(0.5, 2.0, 1.0, "prior", "TC"),
        )
        for i, days in enumerate((60.0, 100.0, 140.0))
    ]
    res = score_outcomes(outcomes, loo=True)
    for row, o in zip(res["pairs"], outcomes, strict=True):
        pre, post = int(o.baseline.sum()), int(o.follow_up.sum())
        assert row["no_growth"]["dice"] == pytest.approx(2 * pre / (pre + post), abs=1e-4)
        assert row["uniform_expansion"]["rate_mm_per_day"] == pytest.approx(0.05, abs=0.01)
        # Expanding a voxelised ball is not exactly the voxelised bigger ball (~0.93 here).
        assert row["uniform_expansion"]["dice"] > 0.9
        # The twin's stored volumes: |2.0 - V_obs| / V_obs with V_obs from the follow-up mask.
        v_obs = post / 1000.0
        assert row["twin"]["volume_error"] == pytest.approx(abs(2.0 - v_obs) / v_obs, rel=1e-3)
        assert row["observed_region"] == "TC"
    beats = sum(r["no_growth"]["dice"] < 0.5 for r in res["pairs"])
    assert res["twin"]["dice"] == 0.5 and res["twin_beats_no_growth"] == beats == 3
    with pytest.raises(InputError, match="expansion rate"):
        score_outcomes(outcomes)


def test_twin_score_is_the_t1ce_visible_compartment_vs_tc() -> None:
    from braintwin.errors import BraintwinError
    from braintwin.twin.evaluate_forecast import _twin_score
    from braintwin.twin.model import ForecastScore

    common = {"forecast_from": "2020-01-01", "target_date": "2020-05-01", "source": "prior"}
    tc = ForecastScore(
        **common, compartment="enhancing", region="TC", dice=0.6, observed_ml=9.9,
        predicted_ml_median=10.9, volume_error_ml=1.0, plan="none",
    )  # fmt: skip
    wt = ForecastScore(
        **common, compartment="flair", region="WT", dice=0.7, observed_ml=30.0,
        predicted_ml_median=28.0, volume_error_ml=-2.0, plan="none",
    )  # fmt: skip
    score = _twin_score([tc, wt], "01", [])
    assert (score.region, score.dice, score.predicted_ml, score.observed_ml) == (
        "TC",
        0.6,
        10.9,
        9.9,
    )
    with pytest.raises(BraintwinError, match="no forecast score"):
        _twin_score([wt], "01", ["model not updated: boom"])
