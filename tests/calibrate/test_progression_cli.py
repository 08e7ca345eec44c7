"""Progression pairs (real data + a SYNTHETIC pair folder) and the forecast CLI commands."""

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


def test_alignment_recovers_a_known_shift_on_a_real_scan(shared_data: Path) -> None:
    """Known answer: the follow-up is the baseline moved by (4, -3, 0) mm."""
    pair = load_progression(shared_data / "progression", align=False)[3]
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
