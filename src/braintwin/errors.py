"""The project's error hierarchy.

Every error that reaches a user carries a one-line message saying what is wrong and, where it
can, a hint saying how to fix it. Interfaces (CLI, REST) print ``str(err)`` and exit non-zero;
they never show a traceback for a ``BraintwinError``.
"""

from __future__ import annotations

__all__ = [
    "BraintwinError",
    "CalibrationError",
    "ConfigurationError",
    "DicomSeriesError",
    "InputError",
    "ModelError",
    "NotFoundError",
    "StoreError",
]


class BraintwinError(Exception):
    """Base class: a clear, user-facing error with an optional fix hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")


class InputError(BraintwinError, ValueError):
    """The data given to braintwin is unusable (missing, corrupt, wrong shape, NaN, …)."""


class DicomSeriesError(InputError):
    """A DICOM folder is not one complete, consistent series."""


class NotFoundError(BraintwinError, LookupError):
    """A patient, visit or stored object does not exist."""


class StoreError(BraintwinError):
    """The persistent store could not complete an operation (nothing was written)."""


class ConfigurationError(BraintwinError):
    """A setting or parameter is outside what braintwin accepts."""


class ModelError(BraintwinError, ValueError):
    """Model parameters, treatment plans or solver settings are invalid or unstable."""


class CalibrationError(BraintwinError):
    """The data cannot support a calibration (e.g. the tumour vanished)."""
