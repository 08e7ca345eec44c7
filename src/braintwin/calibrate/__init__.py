"""Bayesian calibration of the growth model, forecasts with credible intervals, assimilation.

Public API:

- ``calibrate(visits, brain_mask, *, plan, prior, ...) -> Posterior`` — posterior samples of
  D_w, ρ (and α when radiotherapy falls between visits) given dated segmentations.
- ``forecast(posterior, initial_seg, brain_mask, date, plan, *, n_samples, ...) -> Forecast`` —
  probability maps, masks at a credibility level, volume bands, time to progression.
- ``assimilate(posterior, (date, seg)) -> Posterior`` — the previous posterior as the prior.
- ``Prior``, ``literature_prior``, ``ObservationModel``, ``Posterior``, ``Forecast``.
- Longitudinal pairs: ``load_progression`` (training the population prior), baselines
  ``no_growth`` / ``uniform_expansion``, ``load_population``; ``evaluation.score_outcomes`` scores
  what the twin forecast (``braintwin.twin.evaluate_forecast`` runs the pairs through the twin).
"""

from braintwin.calibrate.baselines import dice, no_growth, uniform_expansion, volume_error
from braintwin.calibrate.calibration import assimilate, calibrate, check_visits
from braintwin.calibrate.forecasting import RANO_VOLUME_RATIO, forecast, time_to_progression
from braintwin.calibrate.likelihood import ObservationModel
from braintwin.calibrate.population import load_population
from braintwin.calibrate.priors import LITERATURE_BOUNDS, Prior, literature_prior
from braintwin.calibrate.progression import ProgressionPair, load_progression
from braintwin.calibrate.records import Forecast, Posterior

__all__ = [
    "LITERATURE_BOUNDS",
    "RANO_VOLUME_RATIO",
    "Forecast",
    "ObservationModel",
    "Posterior",
    "Prior",
    "ProgressionPair",
    "assimilate",
    "calibrate",
    "check_visits",
    "dice",
    "forecast",
    "literature_prior",
    "load_population",
    "load_progression",
    "no_growth",
    "time_to_progression",
    "uniform_expansion",
    "volume_error",
]
