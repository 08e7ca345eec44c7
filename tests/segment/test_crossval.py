"""The cross-validation harness: fold bookkeeping, leave-one-out choice, cached re-scoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from braintwin.errors import ConfigurationError
from braintwin.segment.crossval import cache_case, fold_members
from braintwin.segment.cvcompare import leave_one_out, load_case, score_variant
from braintwin.segment.network import DEFAULT_WEIGHTS, read_weights
from braintwin.segment.postprocess import PostProcessing


def test_shipped_members_hold_out_a_partition_of_the_cases() -> None:
    payload = read_weights(DEFAULT_WEIGHTS)
    members = fold_members(payload)
    held = [c for m in members for c in m.held_out]
    assert len(members) == 3 and sorted(held) == payload["info"]["train_cases"]
    assert all(set(m.thresholds) == {"WT", "TC", "ET"} for m in members)


def test_single_network_is_not_a_cv() -> None:
    with pytest.raises(ConfigurationError):
        fold_members({"network": "segresnet", "state_dict": {}, "info": {}})
    overlapping = {
        "members": [{}, {}],
        "info": {"ensemble_of": [{"held_out_cases": ["a"]}, {"held_out_cases": ["a", "b"]}]},
    }
    with pytest.raises(ConfigurationError, match="overlap"):
        fold_members(overlapping)


def test_leave_one_out_never_scores_a_case_with_its_own_choice() -> None:
    # Variant 1 wins on cases 0 and 1 by a little and loses case 2 by a lot: on all three,
    # variant 0 has the better mean, so case 2's choice (made on cases 0, 1) is variant 1.
    et = np.array([[0.5, 0.5, 0.9], [0.6, 0.6, 0.1]])
    per_case = np.zeros((2, 3, 3))
    per_case[:, :, 2] = et
    scores, chosen = leave_one_out(per_case, region=2)
    assert chosen == [0, 0, 1]
    np.testing.assert_allclose(scores[:, 2], [0.5, 0.5, 0.1])


@pytest.mark.slow
def test_cached_prediction_reproduces_the_recorded_cv(brats_case: Path, tmp_path: Path) -> None:
    """The held-out member's cached prediction of a case scores as in the old CV record."""
    import torch

    from braintwin.segment.crossval import _member_model

    torch.set_num_threads(1)
    payload = read_weights(DEFAULT_WEIGHTS)
    member = next(m for m in fold_members(payload) if brats_case.name in m.held_out)
    out = tmp_path / f"{brats_case.name}.all.npz"
    cache_case(brats_case, _member_model(payload, member.index), None, out)
    case = load_case(brats_case.parent, tmp_path, brats_case.name, "all", member.thresholds)
    row = score_variant(case, "p1", PostProcessing())
    record = json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    old = record["history"]["stage_6 without TTA and 1 mm refinement (shipped until issue 11)"]
    want = next(c for c in old["unet"]["cases"] if c["case"] == brats_case.name)["dice"]
    for r in ("WT", "TC", "ET"):
        assert row["dice"][r] == pytest.approx(want[r], abs=2e-3)


def _fake_cache(folder: Path, held_out: list[list[str]], value: float, box: int = 0) -> None:
    folder.mkdir()
    members = [{"index": i, "held_out": h, "thresholds": {}} for i, h in enumerate(held_out)]
    (folder / "folds.json").write_text(json.dumps({"members": members, "slice_mm": None}))
    probs = np.full((3, 2, 2, 2), value, dtype=np.float16)
    np.savez_compressed(
        folder / "c1.all.npz",
        p1=probs,
        p4=probs,
        p8=probs,
        box=np.array([[box, 4]] * 3),
        factors=np.array([2, 2, 2]),
        shape=np.array([4, 4, 4]),
    )


def test_averaged_caches_are_the_mean_prediction_on_the_same_folds(tmp_path: Path) -> None:
    from braintwin.errors import InputError
    from braintwin.segment.crossval import average_caches, load_cached

    _fake_cache(tmp_path / "a", [["c1"], ["c2"]], 0.2)
    _fake_cache(tmp_path / "b", [["c1"], ["c2"]], 0.6)
    assert average_caches([tmp_path / "a", tmp_path / "b"], tmp_path / "ab") == 1
    mean = load_cached(tmp_path / "ab" / "c1.all.npz")
    for key in ("p1", "p4", "p8"):
        np.testing.assert_allclose(mean[key].astype(np.float32), 0.4, atol=1e-3)
    assert mean["p1"].dtype == np.float16
    folds = json.loads((tmp_path / "ab" / "folds.json").read_text())
    assert len(folds["averaged"]) == 2

    _fake_cache(tmp_path / "other_folds", [["c2"], ["c1"]], 0.6)
    with pytest.raises(InputError, match="other folds"):
        average_caches([tmp_path / "a", tmp_path / "other_folds"], tmp_path / "x")
    _fake_cache(tmp_path / "other_box", [["c1"], ["c2"]], 0.6, box=1)
    with pytest.raises(InputError, match="cropped"):
        average_caches([tmp_path / "a", tmp_path / "other_box"], tmp_path / "y")
    with pytest.raises(ConfigurationError):
        average_caches([tmp_path / "a"], tmp_path / "z")
