"""Growth of the live app count: candidate curves, regime changes, backtest and calibrated paths.

- :mod:`~capacity.growth.fit`: :func:`fit_growth` and its result :class:`GrowthFit` (start here);
- :mod:`~capacity.growth.models`: the candidate shapes, one :class:`GrowthModel` class each, in the
  registry :data:`MODELS` (:func:`register_model` adds one);
- :mod:`~capacity.growth.regimes`: segmentation of the rate of new apps (regime changes);
- :mod:`~capacity.growth.backtest`: preparation, the fit at one origin, the rolling-origin backtest;
- :mod:`~capacity.growth.paths`: simulated future paths and their calibration.
"""

from capacity.growth.fit import GrowthFit, fit_growth
from capacity.growth.models import MODELS, Candidate, GrowthModel, Observed, register_model, unregister_model

__all__ = ["fit_growth", "GrowthFit", "MODELS", "GrowthModel", "Candidate", "Observed", "register_model",
           "unregister_model"]
