"""braintwin: a patient-specific digital twin of a brain tumour built from MRI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Twin", "__version__"]

if TYPE_CHECKING:
    from braintwin.twin import Twin


def __getattr__(name: str) -> Any:
    # Lazy so ``import braintwin`` stays light (no torch / SimpleITK until needed).
    if name == "Twin":
        from braintwin.twin import Twin

        return Twin
    raise AttributeError(name)
