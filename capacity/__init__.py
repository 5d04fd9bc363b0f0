"""capacity: when does the infrastructure run out, and by when must each fix land?

The public API is re-exported here lazily, so ``import capacity`` stays fast: statsmodels, scipy and
altair load only when the function that needs them is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "CapacityError": "errors",
    "ArgumentError": "errors",
    "InputDataError": "errors",
    "ConfigError": "errors",
    "FitError": "errors",
    "load_apps": "data",
    "load_messaging": "data",
    "load_changes": "data",
    "attach_apps": "data",
    "daily_percentiles": "data",
    "daily_tier_cpu": "data",
    "apps_from_changes": "data",
    "fit_growth": "growth.fit",
    "GrowthFit": "growth.fit",
    "fit_messaging": "load.messaging",
    "MessagingModel": "load.messaging",
    "Strategy": "load.strategies",
    "Broadcast": "load.strategies",
    "Targeted": "load.strategies",
    "Sharded": "load.strategies",
    "PatternSubscription": "load.strategies",
    "fit_usl": "load.usl",
    "USLFit": "load.usl",
    "USLPeak": "load.usl",
    "erlang_c": "load.queueing",
    "utilisation_limit": "load.queueing",
    "plan": "planning.montecarlo",
    "Plan": "planning.result",
    "Project": "planning.projects",
    "LeadTime": "planning.projects",
    "SwitchStrategy": "planning.projects",
    "AddServers": "planning.projects",
    "ScaleCost": "planning.projects",
    "LatencyLimit": "planning.limits",
    "FixedLoad": "planning.limits",
    "Watch": "planning.limits",
    "fit_profile": "load.profile",
    "drift": "planning.result",
    "threshold_crossing": "planning.montecarlo",
    "load_config": "config",
    "run": "pipeline",
    "replay": "pipeline",
    "Forecast": "pipeline",
    "Replay": "pipeline",
    "write_report": "report.html",
    "fit_growth_many": "batch.fitting",
    "plan_many": "batch.fitting",
    "read_series_groups": "batch.fitting",
}

# subpackages and modules, reachable as attributes (``capacity.growth``) without an explicit import;
# the short names of the load modules (``capacity.queueing.erlang_c``) stay as they were before the move
_SUBMODULES = {
    "errors": "errors", "validation": "validation", "data": "data", "config": "config",
    "pipeline": "pipeline", "charts": "charts",
    "growth": "growth", "load": "load", "planning": "planning", "report": "report", "batch": "batch",
    "messaging": "load.messaging", "strategies": "load.strategies", "queueing": "load.queueing",
    "usl": "load.usl",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"capacity.{_SUBMODULES[name]}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'capacity' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"capacity.{module}"), name)
    globals()[name] = value  # cache: the next lookup skips __getattr__
    return value


def __dir__() -> list[str]:
    return __all__
