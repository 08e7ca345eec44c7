"""Likelihood of observed tumour masks given a simulated cell density.

Noise / misregistration model (why it looks like this):

* **Boundary blur.** A segmented boundary is uncertain by a few mm (rater variability and
  residual misregistration between visits). If the observed mask is the model mask shifted by a
  random displacement s ~ N(0, σ² I), then P(voxel x observed inside) = (G_σ * 1[u ≥ θ])(x):
  the predicted indicator blurred by a Gaussian of σ mm. We use that as a per-voxel Bernoulli
  probability (soft targets y ∈ [0, 1] come from down-sampling fine masks).
* **Correlation.** Neighbouring voxels share the same displacement, so they are not independent;
  counting every voxel would make the posterior far too narrow. We weight the Bernoulli sum by
  the number of resolution elements per voxel, w = h³ / (2√π σ)³ (the "resel" count of a
  Gaussian-smoothed field; Worsley et al. 1992), i.e. one independent observation per
  smoothing kernel volume.
* **Volume term.** Segmented volumes vary by ~10-20 % between raters and scanners; a Gaussian on
  log-volume with σ_v (default 0.15) carries that, and dominates for small or coarse masks.

Thresholds θ (enhancing ≈ 0.6-0.8, FLAIR ≈ 0.16-0.25; Konukoglu 2010, Lipková 2019) are
parameters of :class:`ObservationModel`; their defaults and validation come from the growth
engine's one threshold record, ``growth.ObservationThresholds``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from braintwin.errors import InputError, ModelError
from braintwin.growth.observe import COMPARTMENT_REGIONS, ObservationThresholds
from braintwin.packaged import data_path

__all__ = [
    "ObservationModel",
    "bernoulli_loglik",
    "bernoulli_loglik_reference",
    "default_observation",
    "log_likelihood",
    "soft_mask",
]

_EPS = 1e-3  # floor on probabilities: a voxel is never certain (label noise)


@dataclass(frozen=True)
class ObservationModel:
    """Thresholds and noise scales of the image-from-density observation model.

    Attributes:
        enhancing_threshold: u above which tissue enhances on T1ce (0-1).
        flair_threshold: u above which tissue is abnormal on FLAIR/T2 (0-1).
        boundary_sigma_mm: boundary blur / misregistration standard deviation (mm).
        volume_sigma: standard deviation of log-volume measurement error (dimensionless).
        temperature: the log-likelihood is divided by it (generalised Bayes, Bissiri et al.
            2016): it stands for model discrepancy (initial density, grid, tissue maps) that
            the image-noise terms do not carry. Set by ``braintwin train calibration-temperature``
            on development synthetic patients (Syring & Martin 2019, calibrating general
            posterior credible regions), never on the benchmark's own patients.
    """

    enhancing_threshold: float = ObservationThresholds.enhancing
    flair_threshold: float = ObservationThresholds.flair
    boundary_sigma_mm: float = 2.0
    volume_sigma: float = 0.15
    temperature: float = 1.0

    def __post_init__(self) -> None:
        try:
            self.thresholds  # noqa: B018 - the one threshold record validates them
        except ModelError as err:
            raise InputError(err.message, err.hint) from None
        if self.boundary_sigma_mm <= 0 or self.volume_sigma <= 0 or self.temperature <= 0:
            raise InputError("boundary_sigma_mm, volume_sigma and temperature must be > 0")

    @property
    def thresholds(self) -> ObservationThresholds:
        """The detection thresholds as the growth engine's one threshold record."""
        return ObservationThresholds(enhancing=self.enhancing_threshold, flair=self.flair_threshold)

    def threshold(self, region: str) -> float:
        if region not in COMPARTMENT_REGIONS:
            raise InputError(f"unknown observed region {region!r}", "use 'enhancing' or 'flair'")
        return float(getattr(self.thresholds, region))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_observation() -> ObservationModel:
    """The shipped observation model (``data/forecast/calibration.json``), else the defaults.

    The file holds the likelihood temperature fitted on development synthetic patients by
    ``braintwin train calibration``; without it the temperature is 1 (plain Bayes).
    """
    import json

    path = data_path("forecast", "calibration.json")
    if not path.is_file():
        return ObservationModel()
    try:
        return ObservationModel(**json.loads(path.read_text())["observation"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"malformed {path.name}: {exc}", "re-run braintwin train calibration"
        ) from exc


def soft_mask(
    u: np.ndarray, threshold: float, sigma_mm: float, spacing: tuple[float, float, float]
) -> np.ndarray:
    """P(observed inside) per voxel: the indicator u ≥ threshold blurred by σ mm, in [ε, 1-ε]."""
    ind = (np.asarray(u) >= threshold).astype(np.float32)
    sig = tuple(sigma_mm / float(s) for s in spacing)
    p = ndi.gaussian_filter(ind, sigma=sig, mode="nearest", truncate=3.0)
    return np.clip(p, _EPS, 1.0 - _EPS)


def bernoulli_loglik(p: np.ndarray, y: np.ndarray) -> float:
    """Σ y log p + (1 - y) log(1 - p) over voxels (fast form).

    Most voxels are far from any tumour (y = 0, p = ε): each adds log(1 - ε), so they are
    counted rather than visited; only the active voxels are evaluated.
    """
    pf = np.asarray(p).ravel()
    yf = np.asarray(y).ravel()
    active = (yf > 0) | (pf > _EPS * 1.0001)
    pa = pf[active].astype(np.float64)
    ya = yf[active].astype(np.float64)
    rest = float(pf.size - pa.size) * float(np.log1p(-_EPS))
    return float(ya @ np.log(pa) + (1.0 - ya) @ np.log1p(-pa)) + rest


def bernoulli_loglik_reference(p: np.ndarray, y: np.ndarray) -> float:
    """Readable loop form of :func:`bernoulli_loglik` (tests only)."""
    total = 0.0
    for pi, yi in zip(np.ravel(p), np.ravel(y), strict=True):
        total += float(yi) * np.log(float(pi)) + (1.0 - float(yi)) * np.log(1.0 - float(pi))
    return total


def log_likelihood(
    u: np.ndarray,
    observed: dict[str, np.ndarray],
    spacing: tuple[float, float, float],
    model: ObservationModel,
) -> float:
    """Log-likelihood of observed soft masks given density ``u`` at the same time and grid.

    Args:
        u: simulated tumour cell density (nx, ny, nz), in [0, 1].
        observed: region (``"enhancing"`` / ``"flair"``) -> observed fraction-inside (nx, ny, nz).
        spacing: voxel size in mm.
        model: thresholds and noise scales.

    Returns:
        The weighted Bernoulli term plus the log-volume Gaussian term (nats).
    """
    voxel = float(np.prod(spacing))
    sig = model.boundary_sigma_mm
    weight = voxel / (2.0 * np.sqrt(np.pi) * sig) ** 3
    total = 0.0
    for region, y in observed.items():
        thr = model.threshold(region)
        if y.shape != u.shape:
            raise InputError(f"observed {region} mask {y.shape} is not on the model grid {u.shape}")
        p = soft_mask(u, thr, sig, spacing)
        total += weight * bernoulli_loglik(p, y)
        # Volumes in voxel units: the voxel size cancels in the log ratio. +1 voxel keeps the
        # log finite for a vanished prediction (the prior then decides, never a NaN).
        v_pred = float(np.count_nonzero(u >= thr)) + 1.0
        v_obs = float(np.sum(y)) + 1.0
        total += -0.5 * (np.log(v_pred / v_obs) / model.volume_sigma) ** 2
    return total / model.temperature
