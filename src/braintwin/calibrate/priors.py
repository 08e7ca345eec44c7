"""Priors over the growth parameters, in log space.

Literature ranges for glioblastoma come from the one table ``braintwin.growth.PRIORS``
(D_w 0.02-1.5 mm²/day, ρ 0.002-0.2 /day, radiotherapy α 0.02-0.04 /Gy; sources there). Parameters are positive and span decades, so every prior lives on their
logarithm: either log-uniform in the literature box, or a (truncated) log-normal with a full
covariance (population priors, and a previous posterior re-used as the prior on assimilation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from braintwin.errors import ConfigurationError, InputError
from braintwin.growth.parameters import PRIORS

__all__ = ["LITERATURE_BOUNDS", "PARAM_UNITS", "Prior", "literature_prior"]

#: (low, high) in natural units of the calibrated parameters: a view of the one literature
#: table, ``braintwin.growth.PRIORS`` (fixed parameters such as alpha/beta are left out).
LITERATURE_BOUNDS: dict[str, tuple[float, float]] = {
    name: (lo, hi) for name, (lo, hi, _) in PRIORS.items() if lo < hi
}
PARAM_UNITS: dict[str, str] = {name: unit for name, (_, _, unit) in PRIORS.items()}


@dataclass(frozen=True)
class Prior:
    """A prior on log-parameters, truncated to ``bounds``.

    Attributes:
        names: parameter names, a subset of ``LITERATURE_BOUNDS`` (order = sample columns).
        bounds: (low, high) per name in natural units; zero density outside.
        kind: ``"log-uniform"`` or ``"log-normal"``.
        mean, cov: log-space mean (k,) and covariance (k, k) for ``"log-normal"``.
        source: where it came from (``"literature"``, ``"population"``, ``"posterior"``).
    """

    names: tuple[str, ...]
    bounds: dict[str, tuple[float, float]]
    kind: str = "log-uniform"
    mean: np.ndarray | None = None
    cov: np.ndarray | None = None
    source: str = "literature"
    _prec: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        for n in self.names:
            lo, hi = self.bounds.get(n, (0.0, 0.0))
            if not (0 < lo < hi and np.isfinite(hi)):
                raise ConfigurationError(f"prior bounds for {n} must satisfy 0 < low < high")
        if self.kind == "log-normal":
            k = len(self.names)
            if self.mean is None or self.cov is None:
                raise ConfigurationError("a log-normal prior needs mean and cov")
            mean = np.asarray(self.mean, float).reshape(k)
            cov = np.asarray(self.cov, float).reshape(k, k)
            cov = 0.5 * (cov + cov.T) + 1e-9 * np.eye(k)  # keep it symmetric positive definite
            if np.any(np.linalg.eigvalsh(cov) <= 0) or not np.all(np.isfinite(mean)):
                raise ConfigurationError("log-normal prior covariance is not positive definite")
            object.__setattr__(self, "mean", mean)
            object.__setattr__(self, "cov", cov)
            object.__setattr__(self, "_prec", np.linalg.inv(cov))
        elif self.kind != "log-uniform":
            raise ConfigurationError(f"unknown prior kind {self.kind!r}")

    # -- geometry of the box --------------------------------------------------------------
    @property
    def log_low(self) -> np.ndarray:
        return np.log([self.bounds[n][0] for n in self.names])

    @property
    def log_high(self) -> np.ndarray:
        return np.log([self.bounds[n][1] for n in self.names])

    def log_prob(self, theta: np.ndarray) -> float:
        """Log density of log-parameters ``theta`` (k,) (unnormalised; -inf outside bounds)."""
        th = np.asarray(theta, float)
        if np.any(th < self.log_low) or np.any(th > self.log_high) or not np.all(np.isfinite(th)):
            return -np.inf
        if self.kind == "log-uniform":
            return 0.0
        d = th - np.asarray(self.mean)
        return float(-0.5 * d @ self._prec @ d)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws of log-parameters, shape (n, k) (rejection for the truncation)."""
        k = len(self.names)
        if self.kind == "log-uniform":
            return rng.uniform(self.log_low, self.log_high, size=(n, k))
        out = np.empty((0, k))
        for _ in range(1000):
            draw = rng.multivariate_normal(self.mean, self.cov, size=max(2 * n, 64))  # type: ignore[arg-type]
            ok = np.all((draw >= self.log_low) & (draw <= self.log_high), axis=1)
            out = np.vstack([out, draw[ok]])
            if len(out) >= n:
                return out[:n]
        raise ConfigurationError(
            "the log-normal prior has almost no mass inside its bounds",
            "widen the bounds or re-fit the prior",
        )

    def restrict(self, names: tuple[str, ...]) -> Prior:
        """The marginal prior on a subset of the parameters."""
        idx = [self.names.index(n) for n in names]
        if self.kind == "log-uniform":
            return Prior(names, {n: self.bounds[n] for n in names}, source=self.source)
        return Prior(
            names,
            {n: self.bounds[n] for n in names},
            "log-normal",
            self.mean[idx],  # type: ignore[index]
            self.cov[np.ix_(idx, idx)],  # type: ignore[index]
            self.source,
        )

    def with_params(self, names: tuple[str, ...]) -> Prior:
        """This prior on ``names``: missing ones are added log-uniform (literature box)."""
        if set(names) <= set(self.names):
            return self.restrict(names)
        extra = [n for n in names if n not in self.names]
        base = self.restrict(tuple(n for n in names if n in self.names))
        bounds = {**base.bounds, **{n: LITERATURE_BOUNDS[n] for n in extra}}
        order = tuple(names)
        if base.kind == "log-uniform":
            return Prior(order, bounds, source=self.source)
        # A log-uniform margin has variance (width²/12); approximate it by a wide Gaussian.
        k = len(order)
        mean, cov = np.zeros(k), np.zeros((k, k))
        pos = {n: i for i, n in enumerate(base.names)}
        for i, n in enumerate(order):
            if n in pos:
                mean[i] = base.mean[pos[n]]  # type: ignore[index]
                for j, m in enumerate(order):
                    if m in pos:
                        cov[i, j] = base.cov[pos[n], pos[m]]  # type: ignore[index]
            else:
                lo, hi = np.log(bounds[n])
                mean[i], cov[i, i] = 0.5 * (lo + hi), (hi - lo) ** 2 / 12.0
        return Prior(order, bounds, "log-normal", mean, cov, self.source)

    @classmethod
    def from_samples(
        cls,
        names: tuple[str, ...],
        log_samples: np.ndarray,
        *,
        inflate: float = 1.0,
        source: str = "posterior",
    ) -> Prior:
        """Log-normal fit (moment matching) of log-parameter samples (n, k).

        Used to turn a posterior into the next prior on assimilation; ``inflate`` (>= 1)
        multiplies the covariance to allow for parameter drift between visits.
        """
        s = np.asarray(log_samples, float)
        if s.ndim != 2 or s.shape[1] != len(names) or len(s) < len(names) + 2:
            raise InputError(f"need (n >= {len(names) + 2}, {len(names)}) samples, got {s.shape}")
        cov = np.atleast_2d(np.cov(s, rowvar=False)) * inflate
        bounds = {n: LITERATURE_BOUNDS[n] for n in names}
        return cls(names, bounds, "log-normal", s.mean(axis=0), cov, source)

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "names": list(self.names),
            "bounds": {n: list(self.bounds[n]) for n in self.names},
            "kind": self.kind,
            "source": self.source,
            "space": "natural log of the parameter",
        }
        if self.kind == "log-normal":
            d["mean"] = [float(x) for x in self.mean]  # type: ignore[union-attr]
            d["cov"] = [[float(x) for x in row] for row in self.cov]  # type: ignore[union-attr]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Prior:
        try:
            names = tuple(str(n) for n in d["names"])
            bounds = {n: (float(d["bounds"][n][0]), float(d["bounds"][n][1])) for n in names}
            kind = str(d.get("kind", "log-uniform"))
            mean = np.asarray(d["mean"], float) if kind == "log-normal" else None
            cov = np.asarray(d["cov"], float) if kind == "log-normal" else None
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise InputError(f"malformed prior record: {exc}") from exc
        return cls(names, bounds, kind, mean, cov, str(d.get("source", "file")))


def literature_prior(names: tuple[str, ...] = ("D_w", "rho")) -> Prior:
    """Log-uniform prior over the literature ranges (DESIGN.md) for ``names``."""
    unknown = [n for n in names if n not in LITERATURE_BOUNDS]
    if unknown:
        raise ConfigurationError(f"no literature range for {unknown}", "use D_w, rho, alpha")
    return Prior(tuple(names), {n: LITERATURE_BOUNDS[n] for n in names})
