"""Temperature scaling, ECE (reference vs vectorised) and classification metrics."""

from __future__ import annotations

import numpy as np
import pytest

from braintwin.classify.calibration import (
    expected_calibration_error,
    expected_calibration_error_reference,
    fit_temperature,
    softmax,
)
from braintwin.classify.metrics import classification_metrics, confusion_matrix


def test_ece_fast_matches_reference(rng: np.random.Generator) -> None:
    for _ in range(5):
        p = softmax(rng.normal(0, 3, size=(500, 4)))
        y = rng.integers(0, 4, 500)
        assert expected_calibration_error(p, y) == pytest.approx(
            expected_calibration_error_reference(p, y), abs=1e-12
        )


def test_ece_known_values() -> None:
    # Always 90 % confident, right 90 % of the time: perfectly calibrated.
    p = np.tile([0.9, 0.1], (100, 1))
    y = np.array([0] * 90 + [1] * 10)
    assert expected_calibration_error(p, y) == pytest.approx(0.0, abs=1e-12)
    # Always 90 % confident, always wrong: ECE = 0.9.
    assert expected_calibration_error(p, np.ones(100, int)) == pytest.approx(0.9)


def test_fit_temperature_recovers_truth(rng: np.random.Generator) -> None:
    # Labels drawn from softmax(z / 2.5): the NLL-optimal temperature for logits z is ~2.5.
    z = rng.normal(0, 4, size=(20000, 4))
    p = softmax(z, 2.5)
    y = np.array([rng.choice(4, p=row) for row in p])
    assert fit_temperature(z, y) == pytest.approx(2.5, rel=0.06)
    ece_raw = expected_calibration_error(softmax(z), y)
    ece_cal = expected_calibration_error(softmax(z, fit_temperature(z, y)), y)
    assert ece_cal < 0.02 < ece_raw


def test_metrics_match_sklearn(rng: np.random.Generator) -> None:
    from sklearn.metrics import confusion_matrix as sk_cm
    from sklearn.metrics import f1_score

    yt = rng.integers(0, 4, 300)
    yp = np.where(rng.random(300) < 0.7, yt, rng.integers(0, 4, 300))
    m = classification_metrics(yt, yp, 4)
    np.testing.assert_array_equal(confusion_matrix(yt, yp, 4), sk_cm(yt, yp, labels=range(4)))
    assert m["macro_f1"] == pytest.approx(f1_score(yt, yp, average="macro"))
    assert m["accuracy"] == pytest.approx(np.mean(yt == yp))
    assert list(m["per_class_f1"]) == ["glioma", "meningioma", "notumor", "pituitary"]


def test_metrics_refuse_empty() -> None:
    from braintwin.errors import InputError

    with pytest.raises(InputError):
        classification_metrics(np.array([], int), np.array([], int), 4)
