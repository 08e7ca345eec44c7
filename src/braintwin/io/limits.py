"""Resource limits for every reader: declared sizes are checked before anything is allocated.

A file declares how big its image is (NIfTI ``dim``/``datatype``, DICOM Rows x Columns x
BitsAllocated, a PNG's width x height). Readers compute that size first and refuse it when it
exceeds a limit, or when a compressed file claims far more than its bytes can plausibly hold
(a decompression bomb). Limits are read from the environment at each call, so a user with a
big machine can raise them without code changes:

- ``BRAINTWIN_MAX_VOLUME_BYTES``: one 3D volume in memory (default 2 GiB).
- ``BRAINTWIN_MAX_IMAGE_BYTES``: one 2D image in memory (default 512 MiB).
- ``BRAINTWIN_MAX_DECOMPRESSION_RATIO``: declared bytes / file bytes for compressed inputs
  that declare more than 64 MiB (default 100; real MRI compresses 2-10x, a 240^3 empty label
  file about 1000x but it is far below 64 MiB).

``reading(...)`` is the last line of defence: inside it, any exception a third-party parser
raises on malformed bytes becomes an ``InputError`` with a one-line message, so no reader lets
a traceback escape.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from braintwin.errors import BraintwinError, ConfigurationError, InputError

__all__ = [
    "Limits",
    "check_declared",
    "current_limits",
    "format_bytes",
    "reading",
]

_GIB = 1 << 30
_MIB = 1 << 20
# Compressed inputs smaller than this may expand by any ratio (an empty mask compresses ~1000x).
_RATIO_FLOOR_BYTES = 64 * _MIB


@dataclass(frozen=True)
class Limits:
    """Byte limits for one read (see the module docstring for the environment variables)."""

    volume_bytes: int = 2 * _GIB
    image_bytes: int = 512 * _MIB
    decompression_ratio: float = 100.0


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ConfigurationError(
            f"{name}={text!r} is not a positive number", f"unset it or give e.g. {name}={default:g}"
        )
    return value


def current_limits() -> Limits:
    """The limits in force now (environment variables over the defaults)."""
    d = Limits()
    return Limits(
        volume_bytes=int(_env_number("BRAINTWIN_MAX_VOLUME_BYTES", d.volume_bytes)),
        image_bytes=int(_env_number("BRAINTWIN_MAX_IMAGE_BYTES", d.image_bytes)),
        decompression_ratio=_env_number("BRAINTWIN_MAX_DECOMPRESSION_RATIO", d.decompression_ratio),
    )


def format_bytes(n: int | float) -> str:
    """``1610612736`` -> ``"1.5 GiB"`` (binary units, for messages)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover - loop always returns


def check_declared(
    what: str,
    declared: int,
    *,
    kind: str = "volume",
    file_bytes: int | None = None,
    compressed: bool = False,
) -> None:
    """Refuse ``declared`` bytes (in memory) before they are allocated.

    Args:
        what: the thing being read, for the message (e.g. ``"t1.nii.gz"``); no identifiers.
        declared: bytes the decoded image will occupy, as the file's header declares.
        kind: ``"volume"`` (3D) or ``"image"`` (2D) selects the limit.
        file_bytes: size of the file on disk, for the decompression-ratio check.
        compressed: whether the data on disk are compressed (gzip, PNG, JPEG, ...).
    """
    limits = current_limits()
    limit = limits.volume_bytes if kind == "volume" else limits.image_bytes
    env = "BRAINTWIN_MAX_VOLUME_BYTES" if kind == "volume" else "BRAINTWIN_MAX_IMAGE_BYTES"
    if declared < 0:
        raise InputError(f"{what} declares a negative image size", "the header is corrupt")
    if declared > limit:
        raise InputError(
            f"{what} declares a {kind} of {format_bytes(declared)}, more than the limit of "
            f"{format_bytes(limit)}",
            f"check the header's dimensions; for a genuinely large image raise {env}",
        )
    if compressed and file_bytes is not None and declared > _RATIO_FLOOR_BYTES:
        ratio = declared / max(file_bytes, 1)
        if ratio > limits.decompression_ratio:
            raise InputError(
                f"{what} claims {format_bytes(declared)} from a {format_bytes(file_bytes)} "
                f"compressed file ({ratio:.0f}x, limit {limits.decompression_ratio:g}x): "
                "a decompression bomb or a corrupt header",
                "re-export the image; to accept it raise BRAINTWIN_MAX_DECOMPRESSION_RATIO",
            )


@contextmanager
def reading(what: str, hint: str, error: type[InputError] = InputError) -> Iterator[None]:
    """Turn any parser exception raised inside the block into ``error`` (one line, a hint).

    ``BraintwinError`` passes through unchanged. ``MemoryError`` becomes an error naming the
    limits. Only the exception's type is shown, never its text: parser messages can quote
    header values (names, IDs) or full paths.
    """
    try:
        yield
    except BraintwinError:
        raise
    except MemoryError as err:
        raise error(
            f"not enough memory to read {what}",
            "free memory, or lower BRAINTWIN_MAX_VOLUME_BYTES / BRAINTWIN_MAX_IMAGE_BYTES so "
            "oversized inputs are refused before reading",
        ) from err
    except (ImportError, NameError, AssertionError):
        raise  # a bug or a broken installation, not the input: the CLI logs its traceback
    except PermissionError as err:
        raise error(
            f"cannot read {what}: permission denied", "check the files' permissions"
        ) from err
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise error(f"cannot read {what}: {reason}", hint) from err
    except RecursionError as err:
        raise error(f"{what} is nested too deeply to parse", hint) from err
    except Exception as err:  # third-party parsers raise anything on bad bytes
        raise error(f"{what} is malformed ({type(err).__name__})", hint) from err
