"""Segmentation networks (explicit registry) and the shipped-weights file format.

The default is MONAI's SegResNet (Myronenko 2018, arXiv:1810.11654) with 8 filters at the top:
1.2 M parameters (4.7 MB as float32); on 2 idle CPU cores about 0.7 s per training step of
two 64³ patches and 0.3 s for a whole 80×96×80 brain crop at 2 mm. Weights files are plain
``torch.save`` dictionaries (tensors and JSON-able values only) loaded with
``weights_only=True`` on the CPU, offline. Format 1 holds one network (``state_dict``);
format 2 an ensemble (``members``, see :mod:`braintwin.segment.ensemble`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from braintwin.checkpoint import cast_floats, read_checkpoint, write_checkpoint
from braintwin.errors import ConfigurationError
from braintwin.packaged import data_path

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_WEIGHTS",
    "NETWORKS",
    "build_network",
    "load_model",
    "model_from_payload",
    "read_weights",
    "save_model",
    "trained_modalities",
]

DEFAULT_WEIGHTS = data_path("segment", "segresnet8x3.pt")
FORMAT_VERSION = 1
FORMAT_ENSEMBLE = 2


def _segresnet(init_filters: int = 8) -> torch.nn.Module:
    from monai.networks.nets import SegResNet

    return SegResNet(
        spatial_dims=3,
        init_filters=init_filters,
        in_channels=4,
        out_channels=3,
        blocks_down=(1, 2, 2, 4),
        blocks_up=(1, 1, 1),
        dropout_prob=None,
    )


def _unet(top_channels: int = 16) -> torch.nn.Module:
    from monai.networks.nets import UNet

    c = top_channels
    return UNet(3, 4, 3, channels=(c, 2 * c, 4 * c, 8 * c), strides=(2, 2, 2), num_res_units=1)


#: Explicit registry: network name -> builder taking keyword arguments.
NETWORKS: dict[str, Callable[..., Any]] = {
    "segresnet": _segresnet,
    "unet": _unet,
}


def build_network(name: str, **kwargs: Any) -> torch.nn.Module:
    """Instantiate a registered network (4 inputs T1/T1ce/T2/FLAIR, 3 outputs WT/TC/ET logits)."""
    if name not in NETWORKS:
        raise ConfigurationError(f"unknown network {name!r}", f"choose one of {sorted(NETWORKS)}")
    return NETWORKS[name](**kwargs)


def save_model(
    model: torch.nn.Module, path: Path, network: str, kwargs: dict[str, Any], info: dict[str, Any]
) -> Path:
    """Write weights + how to rebuild the network + training provenance (atomic rename)."""
    payload = {
        "format": FORMAT_VERSION,
        "network": network,
        "kwargs": kwargs,
        "info": info,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    return write_checkpoint(payload, path)


def read_weights(path: Path) -> dict[str, Any]:
    """The raw weights dictionary (CPU, ``weights_only``); clear errors for missing/bad files."""
    payload = read_checkpoint(
        path,
        what="segmentation weights",
        missing_hint="reinstall braintwin or train them: braintwin train segment DATA_DIR --out PATH",
    )
    if "network" not in payload:
        raise ConfigurationError(
            f"{Path(path).name} is not a braintwin segmentation weights file",
            "retrain or reinstall",
        )
    return payload


def model_from_payload(payload: dict[str, Any]) -> torch.nn.Module:
    """The network (or ensemble) a weights dictionary describes, float32, in eval mode."""
    import torch

    try:
        if "members" in payload:
            from braintwin.segment.ensemble import ProbabilityEnsemble

            members = []
            for state in payload["members"]:
                m = build_network(payload["network"], **payload["kwargs"])
                m.load_state_dict(cast_floats(state, torch.float32))
                members.append(m)
            model: torch.nn.Module = ProbabilityEnsemble(members)
        else:
            model = build_network(payload["network"], **payload["kwargs"])
            model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError, TypeError) as err:
        raise ConfigurationError(
            f"segmentation weights do not fit the network: {err}", "retrain or reinstall"
        ) from err
    return model.eval()


def trained_modalities(info: dict[str, Any]) -> list[str] | None:
    """The sequences a network (or every member of an ensemble) was trained on alone.

    None for a network trained on all four with modality dropout (the general model).
    """
    if "ensemble_of" in info:
        return info.get("modalities")
    return (info.get("config") or {}).get("modalities")


@lru_cache(maxsize=2)
def load_model(path: Path = DEFAULT_WEIGHTS) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a weights file on the CPU in eval mode; returns (model, info). Cached per path."""
    payload = read_weights(Path(path))
    return model_from_payload(payload), dict(payload.get("info", {}))
