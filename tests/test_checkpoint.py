"""Weights files shared by the classifier and the segmentation networks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from braintwin.checkpoint import cast_floats, read_checkpoint, write_checkpoint
from braintwin.errors import ConfigurationError, NotFoundError


def test_round_trip_and_dtypes(tmp_path: Path) -> None:
    state = {"w": torch.randn(3, 2), "count": torch.tensor([7], dtype=torch.int64)}
    half = cast_floats(state, torch.float16)
    assert half["w"].dtype == torch.float16 and half["count"].dtype == torch.int64
    path = write_checkpoint({"state_dict": half}, tmp_path / "sub" / "w.pt")
    assert not path.with_suffix(".pt.tmp").exists()
    back = read_checkpoint(path, what="test weights", missing_hint="make some")
    restored = cast_floats(back["state_dict"], torch.float32)
    assert torch.allclose(restored["w"], state["w"], atol=1e-2)
    assert torch.equal(restored["count"], state["count"])


def test_missing_truncated_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="test weights not found"):
        read_checkpoint(tmp_path / "none.pt", what="test weights", missing_hint="make some")
    good = write_checkpoint({"a": torch.ones(4)}, tmp_path / "good.pt")
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(good.read_bytes()[:50])
    with pytest.raises(ConfigurationError, match="cannot read test weights"):
        read_checkpoint(truncated, what="test weights", missing_hint="make some")
    listed = write_checkpoint([1, 2], tmp_path / "list.pt")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not a braintwin test weights file"):
        read_checkpoint(listed, what="test weights", missing_hint="make some")
