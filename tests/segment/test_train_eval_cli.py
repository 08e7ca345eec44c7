"""Training, evaluation and the CLI on a tiny synthetic BraTS-layout folder (labelled as such)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from braintwin.errors import ConfigurationError
from braintwin.segment.evaluate import evaluate_cases, score_case
from braintwin.segment.network import build_network, load_model, read_weights
from braintwin.segment.train import TrainConfig, fold_split, train_segmenter


def write_synthetic_brats(root: Path, n: int, rng: np.random.Generator) -> Path:
    """n synthetic cases: ellipsoid 'brain', FLAIR-bright lesion, enhancing T1ce ring."""
    shape = (48, 48, 40)
    g = np.indices(shape).astype(float)
    c = np.array(shape, float)[:, None, None, None] / 2
    brain = np.sqrt((((g - c) / (c - 3)) ** 2).sum(0)) < 1
    for i in range(n):
        centre = c + rng.integers(-5, 6, 3)[:, None, None, None]
        d = np.sqrt(((g - centre) ** 2).sum(0))
        wt, tc, core = d < 9, d < 5, d < 3
        seg = np.zeros(shape, np.int16)
        seg[wt], seg[tc], seg[core] = 2, 4, 1

        def base() -> np.ndarray:
            return rng.normal(100, 5, shape) * brain

        imgs = {
            "t1": base(),
            "t1ce": base() + 80 * (tc & ~core),
            "t2": base() + 40 * wt,
            "flair": base() + 60 * wt,
            "seg": seg,
        }
        case = root / f"Case{i}"
        case.mkdir(parents=True)
        for name, arr in imgs.items():
            dtype = np.int16
            nib.save(nib.Nifti1Image(arr.astype(dtype), np.eye(4)), case / f"Case{i}_{name}.nii.gz")
    return root


def test_fold_split_partitions_cases() -> None:
    held = [fold_split(14, 3, k, seed=0)[1] for k in range(3)]
    assert sorted(i for h in held for i in h) == list(range(14))
    train, h0 = fold_split(14, 3, 0, seed=0)
    assert not set(train) & set(h0) and len(train) + len(h0) == 14
    assert fold_split(14, 3, 0, seed=0) == (train, h0)  # seeded
    assert fold_split(5, 1, 0, seed=0) == ([0, 1, 2, 3, 4], [])
    with pytest.raises(ConfigurationError):
        fold_split(14, 3, 3, seed=0)


def test_train_one_step_writes_loadable_weights(tmp_path: Path, rng: np.random.Generator) -> None:
    data = write_synthetic_brats(tmp_path / "data", 3, rng)
    out = tmp_path / "w.pt"
    summary = train_segmenter(data, out, TrainConfig(folds=3, fold=1, epochs=1, threads=1))
    assert summary["steps"] == 1 and len(summary["held_out_cases"]) == 1
    model, info = load_model(out)
    assert info["config"]["seed"] == 0 and info["train_cases"] == summary["train_cases"]
    assert set(info["thresholds"]) == {"WT", "TC", "ET"}
    assert sum(p.numel() for p in model.parameters()) > 100_000


def test_training_continues_from_the_member_of_an_ensemble_that_held_out_the_fold(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    from braintwin.segment.ensemble import combine_weights
    from braintwin.segment.train import _initial_state

    data = write_synthetic_brats(tmp_path / "data", 3, rng)
    members = []
    for k in range(3):
        members.append(tmp_path / f"f{k}.pt")
        train_segmenter(data, members[-1], TrainConfig(folds=3, fold=k, epochs=1, threads=1))
    ens = tmp_path / "ens.pt"
    combine_weights(members, ens)
    held1 = read_weights(members[1])["info"]["held_out_cases"]
    state = _initial_state(ens, held1)
    own = read_weights(members[1])["state_dict"]
    assert all(torch_allclose(state[k], own[k]) for k in own)  # member 1, float16-rounded
    with pytest.raises(ConfigurationError, match="different fold"):
        _initial_state(members[0], held1)
    with pytest.raises(ConfigurationError, match="no member"):
        _initial_state(ens, ["a case no fold held out"])
    out = tmp_path / "next.pt"
    cfg = TrainConfig(folds=3, fold=1, epochs=1, threads=1, init=str(ens), augment="strong")
    summary = train_segmenter(data, out, cfg)
    assert summary["held_out_cases"] == held1
    assert read_weights(out)["info"]["config"]["augment"] == "strong"
    with pytest.raises(ConfigurationError, match="unknown augmentation"):
        train_segmenter(data, out, TrainConfig(folds=3, fold=1, epochs=1, augment="wild"))


def test_deep_supervised_training_saves_the_plain_network(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    data = write_synthetic_brats(tmp_path / "data", 3, rng)
    out = tmp_path / "ds.pt"
    cfg = TrainConfig(folds=3, fold=0, epochs=1, threads=1, deep_supervision=True)
    summary = train_segmenter(data, out, cfg)
    assert summary["steps"] == 1 and np.isfinite(summary["final_loss"])
    payload = read_weights(out)
    assert payload["info"]["config"]["deep_supervision"] is True
    # No head survives into the weights: they load into the plain network the shipped path runs.
    assert set(payload["state_dict"]) == set(build_network("segresnet").state_dict())
    _, info = load_model(out)
    assert set(info["thresholds"]) == {"WT", "TC", "ET"}
    with pytest.raises(ConfigurationError, match="deep supervision"):
        train_segmenter(data, out, TrainConfig(network="unet", epochs=1, deep_supervision=True))


def test_specialist_trains_calibrates_and_scores_on_its_own_sequences(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    from braintwin.errors import InputError
    from braintwin.segment import segment_volumes
    from braintwin.segment.data import load_brats_case
    from braintwin.segment.network import trained_modalities
    from braintwin.segment.train import kept_channels
    from braintwin.types.volume import Modality

    assert kept_channels(None) is None
    assert kept_channels(["flair", "t1ce"]) == (False, True, False, True)  # T1 T1ce T2 FLAIR
    for bad in (["dwi"], [], ["seg"]):
        with pytest.raises(ConfigurationError):
            kept_channels(bad)
    data = write_synthetic_brats(tmp_path / "data", 3, rng)
    out = tmp_path / "spec.pt"
    cfg = TrainConfig(folds=3, fold=0, epochs=1, threads=1, modalities=["flair", "t1ce"])
    train_segmenter(data, out, cfg)
    assert trained_modalities(load_model(out)[1]) == ["flair", "t1ce"]
    # Given all four, the specialist gets its own two (as trained) and says so.
    vols, _ = load_brats_case(data / "Case0")
    seg = segment_volumes(vols, weights=out)
    assert seg.flags == ["weights trained on flair, t1ce only: t1, t2 not used"]
    pair = segment_volumes(vols, weights=out, modalities=(Modality.FLAIR, Modality.T1CE))
    assert np.array_equal(pair.labels.data, seg.labels.data)
    with pytest.raises(InputError, match="none is given"):
        segment_volumes(vols, weights=out, modalities=(Modality.T1,))
    with pytest.raises(ConfigurationError, match="unknown sequence"):
        train_segmenter(data, out, TrainConfig(folds=3, epochs=1, modalities=["adc"]))


def test_train_cli_scores_a_specialist_on_its_own_sequences_only(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    from braintwin.cli import segment as seg_cli
    from braintwin.cli.groups import train_app

    app = typer.Typer()
    seg_cli.register(app)
    app.add_typer(train_app, name="train")
    data = write_synthetic_brats(tmp_path / "data", 3, rng)
    out = tmp_path / "spec.pt"
    args = ["train", "segment", str(data), "--out", str(out), "--folds", "3", "--epochs", "1"]
    res = CliRunner().invoke(app, [*args, "--threads", "1", "--modalities", "flair,t1ce"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.output.strip().splitlines()[-1])
    assert "held_out_flair_t1ce" in result and "held_out_all" not in result
    assert result["held_out_flair_t1ce"]["modalities"] == ["flair", "t1ce"]


def torch_allclose(a: object, b: object) -> bool:
    import torch

    assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
    return bool(torch.allclose(a.float(), b.float(), atol=1e-2, rtol=1e-2))


def test_score_case_conventions() -> None:
    ref = np.zeros((10, 10, 10), np.uint8)
    ref[2:6, 2:6, 2:6] = 2
    row = score_case(ref.copy(), ref, (1.0, 1.0, 1.0))
    assert row["dice"] == {"WT": 1.0, "TC": 1.0, "ET": 1.0}  # TC/ET empty in both -> 1
    assert row["hd95_mm"]["WT"] == 0.0
    empty = score_case(np.zeros_like(ref), ref, (1.0, 1.0, 1.0))
    assert empty["dice"]["WT"] == 0.0 and empty["hd95_mm"]["WT"] is None
    assert "WT: prediction empty, HD95 undefined" in empty["flags"]


def test_eval_cli_prints_json_last(tmp_path: Path, rng: np.random.Generator) -> None:
    from braintwin.cli import segment as seg_cli
    from braintwin.cli.groups import eval_app

    data = write_synthetic_brats(tmp_path / "data", 2, rng)
    app = typer.Typer()
    seg_cli.register(app)
    app.add_typer(eval_app, name="eval")
    res = CliRunner().invoke(app, ["eval", "segment", str(data), "--method", "kmeans"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    out = json.loads(lines[-1])
    assert out["n"] == 2 and set(out["dice"]) == {"WT", "TC", "ET"}
    assert out["dice"]["WT"] > 0.8  # synthetic lesions are easy for clustering
    assert {"case", "dice", "hd95_mm", "seconds", "flags"} <= set(out["cases"][0])
    assert "mean (n=2)" in res.output
    direct = evaluate_cases(sorted(data.iterdir()), method="kmeans")
    assert direct["dice"] == out["dice"] and direct["slice_mm"] is None
    res = CliRunner().invoke(
        app, ["eval", "segment", str(data), "--method", "kmeans", "--slice-mm", "4"]
    )
    thick = json.loads(res.output.strip().splitlines()[-1])
    assert res.exit_code == 0 and thick["slice_mm"] == 4.0
    # 4 mm slices across a 9 mm-radius lesion blur its top and bottom: clustering loses some.
    assert thick["dice"]["WT"] < out["dice"]["WT"]


def test_choose_thresholds_picks_best_and_breaks_ties_towards_half() -> None:
    from braintwin.segment.thresholds import THRESHOLD_GRID, choose_thresholds

    d = np.zeros((2, 3, len(THRESHOLD_GRID)))
    d[:, 0, THRESHOLD_GRID.index(0.7)] = 0.9  # WT best at 0.7
    d[:, 1, :] = 0.5  # TC flat: tie -> 0.5
    d[0, 2, THRESHOLD_GRID.index(0.3)] = 1.0  # ET: mean 0.5 at 0.3 vs 0.45 at 0.8
    d[:, 2, THRESHOLD_GRID.index(0.8)] = 0.45
    assert choose_thresholds(d) == {"WT": 0.7, "TC": 0.5, "ET": 0.3}
