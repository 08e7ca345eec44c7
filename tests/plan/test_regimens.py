"""The regimen library and plan files: schema, validation, dating on calendar weekdays."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from braintwin.errors import InputError
from braintwin.growth.treatment import standard_stupp
from braintwin.plan.regimens import (
    PlanSpec,
    library,
    load_plan_file,
    parse_plan_spec,
    regimen_plan,
    resolve_plan,
)

MONDAY = dt.date(2024, 1, 1)


def test_library_holds_the_issue_regimens() -> None:
    lib = library()
    for name in (
        "stupp",
        "rt",
        "hypo-40-15",
        "hypo-25-5",
        "hypo-34-10",
        "escalated-75-30",
        "tmz-alone",
        "stupp-delayed-4w",
        "none",
    ):
        assert name in lib
    assert lib["stupp"].total_dose_gy == 60.0 and lib["stupp"].radiotherapy.n_fractions == 30
    assert abs(lib["hypo-40-15"].total_dose_gy - 40.0) < 0.01
    assert lib["hypo-25-5"].total_dose_gy == 25.0


def test_library_stupp_is_the_model_stupp() -> None:
    """The library's Stupp dates fractions and courses exactly as growth.treatment does."""
    a = regimen_plan("stupp", MONDAY)
    b = standard_stupp(MONDAY, margin_mm=15.0)
    assert a.radiotherapy == b.radiotherapy
    assert a.chemotherapy == b.chemotherapy


def test_fractions_fall_on_weekdays_from_any_start() -> None:
    wednesday = dt.date(2024, 1, 3)
    plan = regimen_plan("stupp", wednesday)
    days = [wednesday + dt.timedelta(days=int(f.day)) for f in plan.radiotherapy.fractions]
    assert len(days) == 30 and all(d.weekday() < 5 for d in days)
    assert len({d.isocalendar()[1] for d in days[:5]}) == 2  # Wed-Fri, then Mon-Tue


def test_delay_shifts_everything() -> None:
    now = regimen_plan("stupp", MONDAY)
    late = regimen_plan("stupp-delayed-4w", MONDAY)
    assert [f.day + 28 for f in now.radiotherapy.fractions] == [
        f.day for f in late.radiotherapy.fractions
    ]
    assert late.chemotherapy[0].start_day == 28.0


def test_tmz_alone_has_no_radiotherapy() -> None:
    plan = regimen_plan("tmz-alone", MONDAY)
    assert plan.radiotherapy is None and len(plan.chemotherapy) == 6
    assert plan.chemotherapy[0].start_day == 0.0


def _spec(**rt: object) -> dict[str, object]:
    return {"name": "x", "radiotherapy": rt}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_spec(phases=[{"fractions": 30, "dose_per_fraction_gy": -2}]), "fraction size"),
        (_spec(phases=[{"fractions": 45, "dose_per_fraction_gy": 2}]), "total dose 90"),
        (_spec(phases=[{"fractions": 3, "dose_per_fraction_gy": 12}]), "outside the allowed"),
        (_spec(phases=[{"fractions": 30, "dose_per_fraction_gy": 0.5}]), "fraction size 0.5"),
        (
            _spec(explicit=[{"day": 0, "dose_gy": 2}, {"day": 0.1, "dose_gy": 2}]),
            "overlap",
        ),
        ({"name": "x", "temozolomide": {"concomitant": True}}, "needs radiotherapy"),
        ({"name": "x", "temozolomide": {"adjuvant_cycles": 6}}, "temozolomide_alone"),
        ({"name": "x", "radiotherapy": {}}, "either as 'phases'"),
        ({"name": "bad name!"}, "name"),
        ({"name": "x", "colour": "red"}, "colour"),
    ],
)
def test_invalid_plans_are_refused_naming_the_problem(payload: dict, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_plan_spec(payload, "test.yaml")
    assert message in str(err.value)
    assert "\n" not in err.value.message


def test_plan_files_yaml_and_json(tmp_path: Path) -> None:
    y = tmp_path / "front.yaml"
    y.write_text(
        "name: front-loaded\nradiotherapy:\n  phases:\n"
        "    - {fractions: 10, dose_per_fraction_gy: 2.5}\n"
        "    - {fractions: 20, dose_per_fraction_gy: 1.75}\n"
        "temozolomide: {concomitant: true, adjuvant_cycles: 6}\n"
    )
    spec = load_plan_file(y)
    assert spec.total_dose_gy == pytest.approx(60.0)
    j = tmp_path / "same.json"
    j.write_text(json.dumps(spec.model_dump(mode="json")))
    assert load_plan_file(j) == spec
    assert resolve_plan(str(j)) == spec
    doses = [f.dose_gy for f in spec.to_plan(MONDAY).radiotherapy.fractions]
    assert doses[:10] == [2.5] * 10 and doses[10:] == [1.75] * 20


@pytest.mark.parametrize("text", ["", "name: [", "{", "- 1\n- 2\n"])
def test_broken_plan_files(tmp_path: Path, text: str) -> None:
    p = tmp_path / ("p.json" if text == "{" else "p.yaml")
    p.write_text(text)
    with pytest.raises(InputError):
        load_plan_file(p)


def test_missing_or_huge_or_unknown(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_plan_file(tmp_path / "nope.yaml")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 1_100_000)
    with pytest.raises(InputError, match="larger than 1 MB"):
        load_plan_file(big)
    with pytest.raises(InputError, match="unknown plan 'stup'"):
        resolve_plan("stup")


def test_schema_in_docs_matches_the_model() -> None:
    """docs/plans.md embeds the JSON schema; it must not drift from the code."""
    doc = Path(__file__).parents[2] / "docs" / "plans.md"
    text = doc.read_text()
    start = text.index("```json\n") + len("```json\n")
    published = json.loads(text[start : text.index("```", start)])
    assert published == PlanSpec.model_json_schema()
