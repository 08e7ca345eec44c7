"""Progression pairs (real data + a SYNTHETIC pair folder) and the forecast CLI commands."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from braintwin.calibrate.progression import ASSUMED_SPACING_MM, head_mask, load_progression
from braintwin.cli import main
from braintwin.errors import InputError


def test_real_pairs_load_with_spacing_override(shared_data: Path) -> None:
    pairs = load_progression(shared_data / "progression")
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


def test_train_and_eval_forecast_cli(
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
    trained = _last_json(capsys)
    assert trained["trained_on"]["n"] == 2 and trained["uniform_expansion"]["rate_mm_per_day"] > 0
    assert json.loads(pop.read_text())["prior"]["kind"] == "log-normal"
    _run(
        [
            "eval",
            "forecast",
            str(synthetic_pairs),
            "--population",
            str(pop),
            "--n-samples",
            "4",
            "--quiet",
        ]
    )
    res = _last_json(capsys)
    assert res["n"] == 2
    for m in ("twin", "no_growth", "uniform_expansion"):
        assert 0 <= res[m]["dice"] <= 1 and res[m]["volume_error"] >= 0
    # no_growth on a growing ball: Dice = V_pre·2 / (V_pre + V_post), never perfect.
    assert res["no_growth"]["dice"] < 0.9
    assert {r["pair"] for r in res["pairs"]} == {"01", "02"}


def test_eval_forecast_without_population_file_is_a_clear_error(
    synthetic_pairs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(
            ["eval", "forecast", str(synthetic_pairs), "--population", str(tmp_path / "none.json")]
        )
    assert exc.value.code == 2
    assert "train forecast" in capsys.readouterr().err
