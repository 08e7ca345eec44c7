"""CLI commands: core (ingest, patients, show, report, demo)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command()
    def version() -> None:
        """Print the braintwin version."""
        from braintwin import __version__

        typer.echo(__version__)
