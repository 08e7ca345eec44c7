"""Trained-weights files: atomic ``torch.save``, guarded ``torch.load``, stored tensor dtype.

The classifier and the segmentation networks ship weights the same way: a plain dictionary of
tensors and JSON-able values, written through a temporary file and a rename (never a
half-written file), read on the CPU with ``weights_only=True`` (no code execution), floating
tensors optionally kept in float16 on disk and cast back to float32 for use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from braintwin.atomic import atomic_write_with
from braintwin.errors import ConfigurationError, NotFoundError

if TYPE_CHECKING:
    import torch

__all__ = ["cast_floats", "read_checkpoint", "write_checkpoint"]


def write_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` to ``path`` atomically (``braintwin.atomic``); returns the path."""
    import torch

    return atomic_write_with(Path(path), lambda tmp: torch.save(payload, tmp))


def read_checkpoint(path: str | Path, *, what: str, missing_hint: str) -> dict[str, Any]:
    """The dictionary in ``path`` (CPU, ``weights_only``).

    Raises:
        NotFoundError: no file (``missing_hint`` says how to get one).
        ConfigurationError: a truncated, foreign or non-dictionary file.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{what} not found: {path}", missing_hint)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle/zip errors of a truncated or foreign file
        raise ConfigurationError(f"cannot read {what} {path.name}: {err}", missing_hint) from err
    if not isinstance(payload, dict):
        raise ConfigurationError(f"{path.name} is not a braintwin {what} file", missing_hint)
    return payload


def cast_floats(state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """``state`` with every floating tensor converted to ``dtype`` (integer buffers kept)."""
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
