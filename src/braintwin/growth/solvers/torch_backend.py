"""Torch solver: the same fused step with tensor slicing; runs on CUDA when available."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from braintwin.growth.solvers.base import harmonic_faces

__all__ = ["TorchSolver"]


class TorchSolver:
    """float32 torch backend (GPU if ``torch.cuda.is_available()``, else CPU)."""

    name = "torch"
    dtype: type[np.floating[Any]] = np.float32

    def __init__(self, device: str | None = None) -> None:
        self.device = device

    def cells(self, state: Any) -> int:
        """All interior cells are updated every step."""
        return int(np.prod([s - 2 for s in state[0].shape]))

    def prepare(
        self, D: np.ndarray, spacing_mm: Sequence[float], active: np.ndarray | None = None
    ) -> Any:
        import torch

        dev = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        faces = harmonic_faces(D.astype(np.float32), spacing_mm)
        return [torch.from_numpy(np.ascontiguousarray(f)).to(dev) for f in faces]

    def advance(
        self, state: Any, u: np.ndarray, n_steps: int, dt: float, e: float, c: float
    ) -> np.ndarray:
        import torch

        cx, cy, cz = state
        t = torch.from_numpy(np.ascontiguousarray(u, dtype=np.float32)).to(cx.device)
        inner = (slice(1, -1),) * 3
        with torch.no_grad():
            for _ in range(n_steps):
                u0 = t[inner]
                f = (
                    cx[:-2, 1:-1, 1:-1] * (t[:-2, 1:-1, 1:-1] - u0)
                    + cx[1:-1, 1:-1, 1:-1] * (t[2:, 1:-1, 1:-1] - u0)
                    + cy[1:-1, :-2, 1:-1] * (t[1:-1, :-2, 1:-1] - u0)
                    + cy[1:-1, 1:-1, 1:-1] * (t[1:-1, 2:, 1:-1] - u0)
                    + cz[1:-1, 1:-1, :-2] * (t[1:-1, 1:-1, :-2] - u0)
                    + cz[1:-1, 1:-1, 1:-1] * (t[1:-1, 1:-1, 2:] - u0)
                )
                v = u0 + dt * f
                nxt = torch.zeros_like(t)
                nxt[inner] = e * v / (1.0 + c * v)
                t = nxt
        return t.cpu().numpy()
