"""``braintwin bench fuzz``: placeholder replaced below."""

from __future__ import annotations
import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Nothing yet."""
