"""What must stay under the limit, and a load model without uncertainty.

Holds :class:`LatencyLimit` (a latency target that the M/M/c model of
:mod:`capacity.load.queueing` turns into a utilisation limit), :class:`Watch` (which utilisation
must stay under the limit: the daily mean or the busy part of the day, the average or the hottest
server, with or without spare servers) and :class:`FixedLoad` (known cost parameters that stand in
for a fitted :class:`~capacity.load.messaging.MessagingModel` in what-if plans).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import ArgumentError
from capacity.validation import HasMethods, Interval, Options, Seed, check_args, check_mapping, describe

__all__ = ["LatencyLimit", "Watch", "FixedLoad"]

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


@dataclass(frozen=True)
class Watch:
    """Which utilisation must stay under the limit.

    Parameters
    ----------
    metric : {"daily_mean", "busiest_hour", "quantile"}, default "daily_mean"
        The day's mean, its busiest hour, or a quantile of its hourly readings (``quantile``); the
        last two need the load's intraday profile (:mod:`capacity.load.profile`).
    quantile : float, optional
        With ``metric="quantile"`` (required then): the quantile of the day's hours, in (0, 1).
    server : {"average", "hottest"}, default "average"
        The average server, or the one that carries the largest share of the load.
    spare_servers : int, default 0
        The limit must hold with this many servers out of service (N+k), >= 0.
    """

    metric: str = "daily_mean"
    quantile: float | None = None
    server: str = "average"
    spare_servers: int = 0

    def __post_init__(self) -> None:
        # here, not at the top: importing capacity.load pulls in the messaging fit (and scipy)
        from capacity.load.profile import METRICS, SERVERS

        check_args("Watch", metric=(self.metric, [Options(METRICS)]),
                   quantile=(self.quantile, [Interval(float, 0, 1, closed="neither"), None]),
                   server=(self.server, [Options(SERVERS)]),
                   spare_servers=(self.spare_servers, [Interval(int, 0, None)]))
        if (self.metric == "quantile") != (self.quantile is not None):
            raise ArgumentError("Watch: quantile is required with metric 'quantile' and only with it, "
                                f"not {self.quantile!r} with metric {self.metric!r}")

    @property
    def needs_profile(self) -> bool:
        """Whether the metric or the server needs the load's intraday profile and server shares."""
        return self.metric != "daily_mean" or self.server != "average"

    def describe(self) -> str:
        """What is watched, in words: 'the busiest hour of the hottest server, 1 server spare'."""
        metric = {"daily_mean": "the daily mean", "busiest_hour": "the busiest hour",
                  "quantile": f"the {_ordinal(self.quantile)} percentile of the hours"}[self.metric]
        text = f"{metric} of the {self.server} server"
        if self.spare_servers:
            text += f" with {self.spare_servers} server{'s' if self.spare_servers > 1 else ''} out of service"
        return text

    def factors(self, profile: Any, owner: str = "plan") -> tuple[float, float]:
        """(factor on the load above background, the server's share) from a load's profile.

        ``profile`` is a :class:`~capacity.load.profile.LoadProfile`, or the reason there is none
        (a string) or None; either is an error when :attr:`needs_profile`.
        """
        if not self.needs_profile:
            return 1.0, 1.0
        if profile is None or isinstance(profile, str):
            why = f": {profile}" if isinstance(profile, str) else " (the load model has none)"
            raise ArgumentError(f"{owner}: planning on {self.describe()} needs the load's intraday profile "
                                f"and server shares{why}")
        return profile.factor(self.metric, self.quantile), profile.share(self.server)

    def daily_mean_limit(self, limit: float, *, load: Any, servers: int) -> float:
        """The daily mean utilisation of the average of ``servers`` servers at which the watched one
        reaches ``limit`` (fractions; ``limit`` itself for the default watch).

        Uses the load's point estimate of ``u0`` and its profile: the watched utilisation is
        ``share * (u0 + (busy - u0) * factor) / ((servers - spare) * cores)``.
        """
        if not self.needs_profile and not self.spare_servers:
            return float(limit)
        factor, share = self.factors(getattr(load, "profile", None))
        cores = float(load.cores_per_server)
        u0 = float(load.params["u0"])
        busy = u0 + (limit * (servers - self.spare_servers) * cores / share - u0) / factor
        return busy / (servers * cores)

    def as_dict(self) -> dict[str, Any]:
        """The settings as ``limit`` keys of the config and of summary.json."""
        return {"metric": self.metric, "metric_quantile": self.quantile, "server": self.server,
                "spare_servers": self.spare_servers}


def _ordinal(q: float | None) -> str:
    """0.95 -> '95th'."""
    n = f"{100 * float(q or 0):g}"
    last = n[-1] if "." not in n else ""
    suffix = "th" if n.endswith(("11", "12", "13")) else {"1": "st", "2": "nd", "3": "rd"}.get(last, "th")
    return n + suffix


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
    profile : LoadProfile, optional
        The intraday profile and server shares (:func:`capacity.load.profile.fit_profile`), for
        plans on the busy hours or the hottest server.
    """

    params: Mapping[str, float]
    strategies: Mapping[str, Any]
    cores_per_server: float = 8
    profile: Any = None

    PARAMS = ("u0", "a", "b")

    def __post_init__(self) -> None:
        check_mapping("FixedLoad", "params", self.params, values=[Interval(float, None, None)])
        if any(k not in self.params for k in self.PARAMS):
            raise ArgumentError(f"FixedLoad: params must have the keys 'u0', 'a' and 'b', "
                                f"not {describe(self.params)}")
        check_mapping("FixedLoad", "strategies", self.strategies,
                      values=[HasMethods("deliveries", what="a Strategy")])
        check_args("FixedLoad", cores_per_server=(self.cores_per_server, [_POSITIVE]),
                   profile=(self.profile, [HasMethods("factor", "share", what="a LoadProfile"), None]))

    def draws(self, n: int, seed: Any = None) -> pd.DataFrame:
        """``n`` identical draws of the parameters (columns u0, a, b); ``seed`` is accepted and unused."""
        check_args("FixedLoad.draws", n=(n, [Interval(int, 1, None)]),
                   seed=(seed, [Seed(), None]))
        return pd.DataFrame({k: np.full(n, float(self.params[k])) for k in self.PARAMS})
