"""Growth of the live app count: candidate curves, regime changes, backtest and calibrated paths.

- :mod:`~capacity.growth.fit`: :func:`fit_growth` and its result :class:`GrowthFit` (start here);
- :mod:`~capacity.growth.models`: the candidate shapes, one class each, in the model registry;
- :mod:`~capacity.growth.regimes`: segmentation of the rate of new apps (regime changes);
- :mod:`~capacity.growth.backtest`: preparation, the fit at one origin, the rolling-origin backtest;
- :mod:`~capacity.growth.paths`: simulated future paths and their calibration.
"""

from capacity.growth.fit import MODELS, GrowthFit, fit_growth

__all__ = ["fit_growth", "GrowthFit", "MODELS"]
