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
    "fit_growth": "growth",
    "GrowthFit": "growth",
    "fit_messaging": "messaging",
    "MessagingModel": "messaging",
    "Strategy": "strategies",
    "Broadcast": "strategies",
    "Targeted": "strategies",
    "Sharded": "strategies",
    "PatternSubscription": "strategies",
    "fit_usl": "usl",
    "USLFit": "usl",
    "USLPeak": "usl",
    "erlang_c": "queueing",
    "utilisation_limit": "queueing",
    "Plan": "plan",
    "Project": "plan",
    "LeadTime": "plan",
    "SwitchStrategy": "plan",
    "AddServers": "plan",
    "ScaleCost": "plan",
    "LatencyLimit": "plan",
    "FixedLoad": "plan",
    "drift": "plan",
    "threshold_crossing": "plan",
    "load_config": "config",
    "run": "pipeline",
    "replay": "pipeline",
    "Forecast": "pipeline",
    "Replay": "pipeline",
    "write_report": "report",
    "fit_growth_many": "batch",
    "plan_many": "batch",
    "read_series_groups": "batch",
}

# domain modules, reachable as attributes (``capacity.queueing.erlang_c``) without an explicit import
_SUBMODULES = {"errors", "data", "config", "growth", "messaging", "strategies", "queueing", "usl", "plan",
               "pipeline", "charts", "report", "batch"}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"capacity.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'capacity' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"capacity.{module}"), name)
    globals()[name] = value  # cache: the next lookup skips __getattr__
    return value


def __dir__() -> list[str]:
    return __all__
