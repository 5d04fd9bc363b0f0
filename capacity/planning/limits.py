"""What must stay under the limit: a latency-derived limit, and a fixed load for what-if plans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    pass

__all__ = ["LatencyLimit", "FixedLoad"]


@dataclass(frozen=True)
class LatencyLimit:
    """A latency target that the M/M/c model turns into a utilisation limit.

    Parameters
    ----------
    target_ms : float
        Allowed response time of one message [ms].
    service_ms : float
        Mean CPU time to handle one message on one core of the broker [ms].
    parallelism : int, default 1
        The broker's real parallelism ``c`` (1 for a single-threaded broker).
    quantile : float, optional
        Hold this response-time quantile (e.g. 0.99) to the target instead of the mean.
    """

    target_ms: float
    service_ms: float
    parallelism: int = 1
    quantile: float | None = None

    def utilisation(self, cores_per_server: float | None = None) -> float:
        """The broker's utilisation limit, or with ``cores_per_server`` the server CPU limit.

        A broker with ``parallelism`` c saturates when its c threads are busy, which on a server
        of ``cores_per_server`` cores is a CPU of c / cores; the server limit is rho * c / cores.
        """
        from capacity.load.queueing import utilisation_limit

        rho = float(utilisation_limit(self.target_ms / 1000, service_time=self.service_ms / 1000,
                                      servers=self.parallelism, quantile=self.quantile))
        if cores_per_server is None:
            return rho
        return min(rho * self.parallelism / float(cores_per_server), 1.0)


@dataclass(frozen=True, eq=False)
class FixedLoad:
    """Known messaging cost parameters without uncertainty (e.g. from a load test).

    Plays the role of a fitted :class:`~capacity.messaging.MessagingModel` in :func:`plan`.
    """

    params: Mapping[str, float]
    strategies: Mapping[str, Any]
    cores_per_server: float = 8

    def draws(self, n: int, seed: Any = None) -> pd.DataFrame:
        return pd.DataFrame({k: np.full(n, float(self.params[k])) for k in ("u0", "a", "b")})
