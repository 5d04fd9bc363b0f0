"""What must stay under the limit, and a load model without uncertainty.

Holds :class:`LatencyLimit` (a latency target that the M/M/c model of
:mod:`capacity.load.queueing` turns into a utilisation limit) and :class:`FixedLoad` (known cost
parameters that stand in for a fitted :class:`~capacity.load.messaging.MessagingModel` in
what-if plans).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import ArgumentError
from capacity.validation import HasMethods, Interval, Seed, check_args, check_mapping, describe

__all__ = ["LatencyLimit", "FixedLoad"]

_POSITIVE = Interval(float, 0, None, closed="neither")


@dataclass(frozen=True)
class LatencyLimit:
    """A latency target that the M/M/c model turns into a utilisation limit.

    Parameters
    ----------
    target_ms : float
        Allowed response time of one message [ms] (> 0).
    service_ms : float
        Mean CPU time to handle one message on one core of the broker [ms] (> 0).
    parallelism : int, default 1
        The broker's real parallelism ``c`` (1 for a single-threaded broker).
    quantile : float, optional
        Hold this response-time quantile (in (0, 1), e.g. 0.99) to the target instead of the mean.
    """

    target_ms: float
    service_ms: float
    parallelism: int = 1
    quantile: float | None = None

    def __post_init__(self) -> None:
        check_args("LatencyLimit", target_ms=(self.target_ms, [_POSITIVE]),
                   service_ms=(self.service_ms, [_POSITIVE]),
                   parallelism=(self.parallelism, [Interval(int, 1, None)]),
                   quantile=(self.quantile, [Interval(float, 0, 1, closed="neither"), None]))

    def utilisation(self, cores_per_server: float | None = None) -> float:
        """The broker's utilisation limit, or with ``cores_per_server`` the server CPU limit (fractions).

        A broker with ``parallelism`` c saturates when its c threads are busy, which on a server
        of ``cores_per_server`` cores is a CPU of c / cores; the server limit is rho * c / cores.
        """
        from capacity.load.queueing import utilisation_limit

        check_args("LatencyLimit.utilisation", cores_per_server=(cores_per_server, [_POSITIVE, None]))
        rho = float(utilisation_limit(self.target_ms / 1000, service_time=self.service_ms / 1000,
                                      servers=self.parallelism, quantile=self.quantile))
        if cores_per_server is None:
            return rho
        return min(rho * self.parallelism / float(cores_per_server), 1.0)


@dataclass(frozen=True, eq=False)
class FixedLoad:
    """Known messaging cost parameters without uncertainty (e.g. from a load test).

    Plays the role of a fitted :class:`~capacity.load.messaging.MessagingModel` in
    :func:`capacity.planning.plan`.

    Parameters
    ----------
    params : mapping
        ``u0`` [cores], ``a`` [cores/app] and ``b`` [cores/(app*delivery)], finite numbers.
    strategies : mapping
        Fan-out strategy name -> :class:`~capacity.load.strategies.Strategy`.
    cores_per_server : float, default 8
        Cores of one messaging server (> 0).
    """

    params: Mapping[str, float]
    strategies: Mapping[str, Any]
    cores_per_server: float = 8

    PARAMS = ("u0", "a", "b")

    def __post_init__(self) -> None:
        check_mapping("FixedLoad", "params", self.params, values=[Interval(float, None, None)])
        if any(k not in self.params for k in self.PARAMS):
            raise ArgumentError(f"FixedLoad: params must have the keys 'u0', 'a' and 'b', "
                                f"not {describe(self.params)}")
        check_mapping("FixedLoad", "strategies", self.strategies,
                      values=[HasMethods("deliveries", what="a Strategy")])
        check_args("FixedLoad", cores_per_server=(self.cores_per_server, [_POSITIVE]))

    def draws(self, n: int, seed: Any = None) -> pd.DataFrame:
        """``n`` identical draws of the parameters (columns u0, a, b); ``seed`` is accepted and unused."""
        check_args("FixedLoad.draws", n=(n, [Interval(int, 1, None)]),
                   seed=(seed, [Seed(), None]))
        return pd.DataFrame({k: np.full(n, float(self.params[k])) for k in self.PARAMS})
