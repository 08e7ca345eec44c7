"""Growth-model parameters: a validated record with units and literature ranges.

Physical ranges (``RANGES``) bound what the solver accepts; literature priors (``PRIORS``) are
the narrower glioblastoma ranges that calibration starts from. ``PRIORS`` is the project's one
table of literature priors (``braintwin.calibrate.priors`` reads its bounds from here). Sources:
Swanson et al. 2000 (J Neurol Sci, D and rho), Harpold et al. 2007 (J Neuropathol Exp Neurol,
D/rho spread), Rockne et al. 2010 (Phys Med Biol, LQ radiotherapy alpha ~0.02-0.04 /Gy,
alpha/beta = 10 Gy), Lipková et al. 2019 (IEEE TMI, D_grey = D_white / 10, observation
thresholds).

Treatment response (``clearance_ratio``): cells lethally damaged by radiotherapy or
temozolomide are not removed at once. They die when they attempt division (mitotic
catastrophe), often after one or more abortive divisions, and are then cleared (Hall &
Giaccia, Radiobiology for the Radiologist, ch. 3), so the mass they form shrinks at a rate
tied to the cell turnover. The model keeps them as a non-proliferating, non-migrating
compartment cleared at ``clearance_ratio * rho`` (1/day) that still counts towards what
imaging sees. Default ratio 0.5: a doomed cell lives about two turnover times 1/rho (one
abortive division, then death). This is a mechanistic assumption, not a fitted number; with
ratio 1 the median virtual patient's T1ce-visible tumour vanished by week 12 of Stupp, which
radiologically treated glioblastoma rarely does (``braintwin eval population`` reports both).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from braintwin.errors import ModelError

__all__ = ["PRIORS", "RANGES", "GrowthParameters"]

# name -> (low, high, unit): what the model accepts at all (outside: ModelError).
RANGES: dict[str, tuple[float, float, str]] = {
    "D_w": (0.001, 5.0, "mm²/day"),
    "rho": (0.0005, 1.0, "1/day"),
    "alpha": (0.005, 0.2, "1/Gy"),
    "alpha_beta": (1.0, 30.0, "Gy"),
    "gm_ratio": (0.0, 1.0, "D_grey/D_white"),
    "csf_ratio": (0.0, 1.0, "D_csf/D_white"),
    "chemo_sensitivity": (0.0, 10.0, "x plan kill rate"),
    "clearance_ratio": (0.05, 20.0, "clearance rate / rho"),
}

# name -> (low, high, unit): glioblastoma literature priors (not truths).
PRIORS: dict[str, tuple[float, float, str]] = {
    "D_w": (0.02, 1.5, "mm²/day"),
    "rho": (0.002, 0.2, "1/day"),
    "alpha": (0.02, 0.04, "1/Gy"),
    "alpha_beta": (10.0, 10.0, "Gy"),
}


class GrowthParameters(BaseModel):
    """Parameters of the reaction-diffusion (Fisher-Kolmogorov) glioma model.

    Attributes:
        D_w: diffusivity in white matter (mm²/day).
        rho: logistic proliferation rate (1/day); carrying capacity is u = 1.
        alpha: linear radiosensitivity (1/Gy).
        alpha_beta: alpha/beta ratio (Gy); beta = alpha / alpha_beta.
        gm_ratio: grey-matter diffusivity as a fraction of D_w (Lipková 2019: 0.1).
        csf_ratio: CSF diffusivity as a fraction of D_w (~0: CSF is a barrier).
        chemo_sensitivity: multiplier on the plan's chemotherapy kill rates (1 = as planned).
        clearance_ratio: lethally damaged cells are cleared at ``clearance_ratio * rho`` (1/day).

    Out-of-range values raise ``ModelError`` naming the accepted range.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    D_w: float = Field(default=0.5, description="mm²/day")
    rho: float = Field(default=0.05, description="1/day")
    alpha: float = Field(default=0.03, description="1/Gy")
    alpha_beta: float = Field(default=10.0, description="Gy")
    gm_ratio: float = 0.1
    csf_ratio: float = 0.0
    chemo_sensitivity: float = 1.0
    clearance_ratio: float = 0.5

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "parameters"
            msg = str(first.get("msg", err)).removeprefix("Value error, ")
            raise ModelError(
                f"invalid growth parameter {field}: {msg}",
                "see braintwin.growth.RANGES for accepted ranges and units",
            ) from None

    @model_validator(mode="after")
    def _in_range(self) -> GrowthParameters:
        for name, (lo, hi, unit) in RANGES.items():
            value = getattr(self, name)
            if not (lo <= value <= hi):  # also rejects NaN
                raise ValueError(f"{name} = {value!r} is outside [{lo}, {hi}] {unit}")
        return self

    @property
    def beta(self) -> float:
        """Quadratic radiosensitivity (1/Gy²)."""
        return self.alpha / self.alpha_beta

    @property
    def clearance_per_day(self) -> float:
        """Clearance rate of lethally damaged (doomed) cells (1/day)."""
        return self.clearance_ratio * self.rho

    @property
    def wave_width_mm(self) -> float:
        """Travelling-wave decay length sqrt(D_w / rho) (mm): the invisible infiltration scale."""
        return float((self.D_w / self.rho) ** 0.5)

    @property
    def front_speed_mm_per_day(self) -> float:
        """Asymptotic travelling-wave speed 2·sqrt(D_w·rho) in white matter (mm/day)."""
        return 2.0 * (self.D_w * self.rho) ** 0.5

    def replace(self, **changes: Any) -> GrowthParameters:
        """A validated copy with some fields changed (``model_copy`` would skip validation)."""
        return GrowthParameters(**{**self.model_dump(), **changes})
