"""Explicit solver registry: name -> backend instance (no discovery by name patterns)."""

from __future__ import annotations

from braintwin.errors import ModelError
from braintwin.growth.solvers.base import Solver, harmonic_faces, stable_dt
from braintwin.growth.solvers.numba_backend import NumbaSolver
from braintwin.growth.solvers.reference import ReferenceSolver, reference_step
from braintwin.growth.solvers.torch_backend import TorchSolver

__all__ = ["SOLVERS", "Solver", "get_solver", "harmonic_faces", "reference_step", "stable_dt"]

SOLVERS: dict[str, Solver] = {
    "reference": ReferenceSolver(),
    "numba": NumbaSolver(),
    "torch": TorchSolver(),
}


def get_solver(name: str) -> Solver:
    """The registered solver called ``name``; ``ModelError`` listing the choices otherwise."""
    try:
        return SOLVERS[name]
    except KeyError:
        raise ModelError(
            f"unknown solver {name!r}", f"choose one of {', '.join(sorted(SOLVERS))}"
        ) from None
