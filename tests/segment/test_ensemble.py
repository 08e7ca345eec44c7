"""The fold ensemble: a drop-in predictor that averages the members' probabilities."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from braintwin.errors import ConfigurationError, NotFoundError
from braintwin.segment.ensemble import ProbabilityEnsemble, combine_weights
from braintwin.segment.network import (
    build_network,
    load_model,
    read_weights,
    save_model,
    trained_modalities,
)


def _member(
    tmp_path: Path, name: str, seed: int, filters: int = 8, modalities: list[str] | None = None
) -> Path:
    torch.manual_seed(seed)
    net = build_network("segresnet", init_filters=filters)
    info = {
        "train_cases": [f"case{seed}", "shared"],
        "held_out_cases": [f"out{seed}"],
        "config": {"modalities": modalities},
    }
    return save_model(net, tmp_path / name, "segresnet", {"init_filters": filters}, info)


def test_ensemble_averages_member_probabilities(tmp_path: Path) -> None:
    a, b = _member(tmp_path, "a.pt", 1), _member(tmp_path, "b.pt", 2)
    out = tmp_path / "ens.pt"
    info = combine_weights([a, b], out)
    assert info["train_cases"] == ["case1", "case2", "shared"]
    assert [m["held_out_cases"] for m in info["ensemble_of"]] == [["out1"], ["out2"]]
    ens, loaded_info = load_model(out)
    assert isinstance(ens, ProbabilityEnsemble) and len(ens.members) == 2
    assert loaded_info["train_cases"] == info["train_cases"]
    x = torch.randn(1, 4, 16, 16, 16)
    with torch.no_grad():
        pa = torch.sigmoid(load_model(a)[0](x))
        pb = torch.sigmoid(load_model(b)[0](x))
        pe = torch.sigmoid(ens(x))
    # Members are stored in float16: probabilities agree to ~1e-3.
    assert torch.allclose(pe, (pa + pb) / 2, atol=5e-3)
    assert not torch.allclose(pa, pb, atol=1e-2)  # the members really differ


def test_ensemble_refuses_mixed_architectures_and_bad_files(tmp_path: Path) -> None:
    a, b = _member(tmp_path, "a.pt", 1), _member(tmp_path, "b.pt", 2, filters=16)
    with pytest.raises(ConfigurationError, match="different network"):
        combine_weights([a, b], tmp_path / "x.pt")
    with pytest.raises(ConfigurationError, match="at least two"):
        combine_weights([a], tmp_path / "x.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ConfigurationError, match="cannot read"):
        read_weights(junk)
    with pytest.raises(NotFoundError):
        read_weights(tmp_path / "missing.pt")
    assert not (tmp_path / "x.pt").exists()


def test_specialist_ensemble_keeps_its_sequences_and_refuses_mixed_sets(tmp_path: Path) -> None:
    pair = ["flair", "t1ce"]
    a, b = (
        _member(tmp_path, "a.pt", 1, modalities=pair),
        _member(tmp_path, "b.pt", 2, modalities=pair),
    )
    info = combine_weights([a, b], tmp_path / "spec.pt")
    assert trained_modalities(info) == pair
    assert trained_modalities(load_model(tmp_path / "spec.pt")[1]) == pair
    general = _member(tmp_path, "g.pt", 3)
    assert trained_modalities(combine_weights([general, general], tmp_path / "g2.pt")) is None
    with pytest.raises(ConfigurationError, match="different sequence sets"):
        combine_weights([a, general], tmp_path / "mixed.pt")
    assert not (tmp_path / "mixed.pt").exists()
