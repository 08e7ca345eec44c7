"""Several trained networks (e.g. the cross-validation folds) averaged into one predictor.

As nnU-Net ships its five fold models (Isensee et al. 2021, Nat Methods 18:203), braintwin can
ship the networks trained for the leave-cases-out folds: each was validated on the cases it
did not see, and their average uses every case. The ensemble averages sigmoid probabilities
and returns their logit, so it is a drop-in replacement for one network in
:func:`braintwin.segment.infer.predict_regions`. On disk it is one weights file (format 2)
holding the members' state dictionaries in float16 (half the size; the rounding changes
probabilities by ~1e-3).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from braintwin.errors import ConfigurationError

__all__ = ["ProbabilityEnsemble", "combine_weights"]


class ProbabilityEnsemble(torch.nn.Module):
    """Mean of the members' sigmoid outputs, returned as logits."""

    def __init__(self, members: Sequence[torch.nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ConfigurationError("an ensemble needs at least one network")
        self.members = torch.nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.stack([torch.sigmoid(m(x)) for m in self.members]).mean(dim=0)
        return torch.logit(p, eps=1e-6)


def combine_weights(paths: Sequence[Path], out: Path) -> dict[str, Any]:
    """Write one ensemble weights file from single-network files of the same architecture.

    Returns the ensemble's ``info``: the members' provenance, and as ``train_cases`` the union
    of their training cases (where thresholds may be chosen; see ``segment.thresholds``).
    """
    from braintwin.checkpoint import cast_floats, write_checkpoint
    from braintwin.segment.network import FORMAT_ENSEMBLE, read_weights, trained_modalities

    if len(paths) < 2:
        raise ConfigurationError("an ensemble needs at least two weights files")
    payloads = [read_weights(Path(p)) for p in paths]
    first = payloads[0]
    for p, payload in zip(paths, payloads, strict=True):
        if "members" in payload:
            raise ConfigurationError(f"{Path(p).name} is already an ensemble")
        if (payload["network"], payload["kwargs"]) != (first["network"], first["kwargs"]):
            raise ConfigurationError(
                f"{Path(p).name} is a different network from {Path(paths[0]).name}",
                "combine networks of one architecture",
            )
    members_info = [dict(p.get("info", {})) for p in payloads]
    modalities = {str(trained_modalities(i)) for i in members_info}
    if len(modalities) > 1:
        raise ConfigurationError(
            "the members were trained on different sequence sets",
            "combine networks trained with the same --modalities",
        )
    train_cases = sorted({c for i in members_info for c in i.get("train_cases", [])})
    info: dict[str, Any] = {
        "ensemble_of": [
            {
                "file": Path(p).name,
                **{k: i.get(k) for k in ("config", "train_cases", "held_out_cases", "steps")},
                "thresholds": i.get("thresholds"),
            }
            for p, i in zip(paths, members_info, strict=True)
        ],
        "channels": members_info[0].get("channels"),
        "modalities": trained_modalities(members_info[0]),
        "train_cases": train_cases,
        "torch": str(torch.__version__),
    }
    payload = {
        "format": FORMAT_ENSEMBLE,
        "network": first["network"],
        "kwargs": first["kwargs"],
        "info": info,
        "members": [cast_floats(p["state_dict"], torch.float16) for p in payloads],
    }
    write_checkpoint(payload, out)
    return info
