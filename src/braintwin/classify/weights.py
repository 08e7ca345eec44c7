"""Save and load classifier checkpoints (architecture name, widths, weights, temperature).

Shipped weights live in ``braintwin/data/classify/classifier.pt``. Parameters are stored as
float16 to keep the file small (~3 MB); they are cast back to float32 on load, and all reported
validation numbers are measured after that round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from braintwin.checkpoint import cast_floats, read_checkpoint, write_checkpoint
from braintwin.errors import ConfigurationError
from braintwin.packaged import data_path

__all__ = [
    "DEFAULT_WEIGHTS",
    "LoadedClassifier",
    "fp16_roundtrip",
    "load_classifier",
    "save_classifier",
]

DEFAULT_WEIGHTS = data_path("classify", "classifier.pt")


@dataclass
class LoadedClassifier:
    """A ready-to-use network (eval mode, float32) and what it needs at inference.

    Attributes:
        model: torch ``nn.Module`` mapping (B, 1, size, size) in [0, 1] to (B, n) logits.
        classes: class names in logit order.
        size: input side in pixels (``prepare_slice`` size).
        temperature: calibration temperature (divide logits by it before softmax).
        info: training provenance and validation metrics recorded at training time.
    """

    model: Any
    classes: tuple[str, ...]
    size: int
    temperature: float
    info: dict[str, Any] = field(default_factory=dict)


def fp16_roundtrip(model: Any) -> Any:
    """A copy of ``model`` (eval mode) whose float tensors went through float16, as when shipped."""
    import copy

    import torch

    twin = copy.deepcopy(model)
    twin.load_state_dict(cast_floats(cast_floats(model.state_dict(), torch.float16), torch.float32))
    return twin.eval()


def save_classifier(
    path: str | Path,
    model: Any,
    *,
    arch: str,
    arch_kwargs: dict[str, Any],
    classes: tuple[str, ...],
    size: int,
    temperature: float,
    info: dict[str, Any],
) -> Path:
    """Write a checkpoint atomically (temp file, then rename); returns the path."""
    import torch

    state = cast_floats(model.state_dict(), torch.float16)
    payload = {
        "format": 1,
        "arch": arch,
        "arch_kwargs": arch_kwargs,
        "classes": list(classes),
        "size": size,
        "temperature": float(temperature),
        "info": info,
        "state_dict": state,
    }
    return write_checkpoint(payload, path)


def load_classifier(path: str | Path | None = None) -> LoadedClassifier:
    """Load a checkpoint (default: the shipped weights) into an eval-mode float32 model.

    Raises:
        NotFoundError: no file at ``path``.
        ConfigurationError: the file is not a braintwin classifier checkpoint.
    """
    return _load_cached(str(Path(path) if path is not None else DEFAULT_WEIGHTS))


@lru_cache(maxsize=4)
def _load_cached(path: str) -> LoadedClassifier:
    import torch

    from braintwin.classify.model import build_model

    payload = read_checkpoint(
        path,
        what="classifier weights",
        missing_hint="train them with `braintwin train classify DATA_DIR --out PATH`",
    )
    try:
        model = build_model(payload["arch"], **payload["arch_kwargs"])
        model.load_state_dict(cast_floats(payload["state_dict"], torch.float32))
    except (KeyError, RuntimeError, TypeError, ValueError) as err:
        raise ConfigurationError(
            f"{Path(path).name} is not a usable braintwin classifier checkpoint: {err}",
            "re-train with `braintwin train classify`",
        ) from err
    model.eval()
    return LoadedClassifier(
        model=model,
        classes=tuple(payload["classes"]),
        size=int(payload["size"]),
        temperature=float(payload["temperature"]),
        info=dict(payload.get("info", {})),
    )
