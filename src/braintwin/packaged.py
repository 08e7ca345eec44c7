"""Where the files shipped inside the package live (weights, numbers, the demo case).

One lookup for every packaged file, so an installed wheel and a source checkout find the same
``braintwin/data`` folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["data_path"]


def data_path(*parts: str) -> Path:
    """The path of ``braintwin/data/<parts…>`` (it need not exist; callers check)."""
    return Path(str(resources.files("braintwin"))).joinpath("data", *parts)
