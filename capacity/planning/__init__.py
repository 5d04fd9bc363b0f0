"""Deadlines: when utilisation crosses the limit, and by when each project must land and start.

- :mod:`~capacity.planning.projects`: projects, their effects and lead times;
- :mod:`~capacity.planning.limits`: a latency-derived limit and a fixed load for what-if plans;
- :mod:`~capacity.planning.montecarlo`: :func:`plan` and :func:`threshold_crossing`, the Monte Carlo
  over growth and load draws;
- :mod:`~capacity.planning.result`: :class:`Plan`, :class:`Crossing` and :func:`drift`;
- :mod:`~capacity.planning.charts`: the utilisation fan, crossing histogram, project windows and the
  replay chart (altair is imported when a chart is built).

Imports run one way: projects and limits import no other planning module, result imports projects,
montecarlo the three of them; :meth:`Plan.chart` imports charts when called, and charts imports
none of them at run time.
"""

from capacity.planning.limits import FixedLoad, LatencyLimit, Watch
from capacity.planning.montecarlo import plan, threshold_crossing
from capacity.planning.projects import (
    AddServers,
    LeadTime,
    Project,
    ScaleCost,
    SwitchStrategy,
    effect_from_config,
)
from capacity.planning.result import Crossing, Plan, drift

__all__ = ["plan", "threshold_crossing", "Plan", "Crossing", "drift", "Project", "LeadTime", "SwitchStrategy",
           "AddServers", "ScaleCost", "effect_from_config", "LatencyLimit", "FixedLoad", "Watch"]
