"""Parameter records: ranges, units, errors (tiny, no solver)."""

from __future__ import annotations

import math

import pytest

from braintwin.errors import ModelError
from braintwin.growth import RANGES, GrowthParameters


def test_defaults_and_derived() -> None:
    p = GrowthParameters(D_w=0.5, rho=0.05, alpha=0.03, alpha_beta=10)
    assert p.beta == pytest.approx(0.003)
    assert p.front_speed_mm_per_day == pytest.approx(2 * math.sqrt(0.025))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("D_w", 6.0),
        ("D_w", 0.0),
        ("rho", 2.0),
        ("alpha", 0.5),
        ("alpha_beta", 0.1),
        ("rho", math.nan),
    ],
)
def test_out_of_range_is_model_error_with_range(field: str, value: float) -> None:
    with pytest.raises(ModelError) as err:
        GrowthParameters(**{field: value})
    lo, hi, unit = RANGES[field]
    assert field in str(err.value)
    assert f"[{lo}, {hi}]" in str(err.value) and unit in str(err.value)


def test_unknown_field_and_replace_validate() -> None:
    with pytest.raises(ModelError):
        GrowthParameters(D=1.0)  # type: ignore[call-arg]
    p = GrowthParameters()
    assert p.replace(rho=0.1).rho == 0.1
    with pytest.raises(ModelError):
        p.replace(rho=-1.0)
