"""Infrastructure projects: what each changes (its effect), how long it takes, and its plan dates.

Holds the effects (:class:`SwitchStrategy`, :class:`AddServers`, :class:`ScaleCost`, and
:func:`effect_from_config` that builds one from a config entry), the PERT :class:`LeadTime` and
:class:`Project`. :mod:`capacity.planning.montecarlo` turns a roadmap of projects into deadlines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import ArgumentError, ConfigError
from capacity.validation import DateLike, InstanceOf, Interval, Text, check_args, describe

__all__ = ["SwitchStrategy", "AddServers", "ScaleCost", "Effect", "effect_from_config", "LeadTime", "Project",
           "DONE"]

#: project statuses that need no deadline
DONE = ("landed", "in effect")


@dataclass(frozen=True)
class SwitchStrategy:
    """Route messages with another fan-out strategy.

    Parameters
    ----------
    strategy : str
        A strategy name known to the load model (checked by :func:`capacity.planning.plan`).
    """

    strategy: str

    def __post_init__(self) -> None:
        check_args("SwitchStrategy", strategy=(self.strategy, [Text()]))

    def describe(self) -> str:
        """The effect in words, e.g. ``"switch to targeted"``."""
        return f"switch to {self.strategy}"


@dataclass(frozen=True)
class AddServers:
    """Put more messaging servers in service.

    Parameters
    ----------
    servers : int
        Servers added (>= 1).
    """

    servers: int

    def __post_init__(self) -> None:
        check_args("AddServers", servers=(self.servers, [Interval(int, 1, None)]))

    def describe(self) -> str:
        """The effect in words, e.g. ``"+2 servers"``."""
        return f"+{self.servers} servers"


@dataclass(frozen=True)
class ScaleCost:
    """Multiply the messaging tier's CPU cost.

    Parameters
    ----------
    factor : float
        Cost multiplier (> 0; 0.8 is a 20% efficiency gain).
    """

    factor: float

    def __post_init__(self) -> None:
        check_args("ScaleCost", factor=(self.factor, [Interval(float, 0, None, closed="neither")]))

    def describe(self) -> str:
        """The effect in words, e.g. ``"cost x0.8"``."""
        return f"cost x{self.factor:g}"


Effect = SwitchStrategy | AddServers | ScaleCost

# config effect kind -> the effect it builds
_EFFECTS: dict[str, type[Effect]] = {"strategy": SwitchStrategy, "add_servers": AddServers,
                                     "cost_factor": ScaleCost}


def effect_from_config(kind: str, value: Any) -> Effect:
    """Build an effect from its config form (``{strategy = "targeted"}`` -> ``("strategy", "targeted")``).

    Parameters
    ----------
    kind : str
        ``"strategy"``, ``"add_servers"`` or ``"cost_factor"``.
    value : str, int or float
        The strategy name, the servers added or the cost factor.

    Raises
    ------
    ConfigError
        An unknown kind, or a value the effect refuses (the message names the kind).
    """
    if kind not in _EFFECTS:
        raise ConfigError(f"unknown project effect {kind!r} (known: {', '.join(_EFFECTS)})")
    if kind == "add_servers" and isinstance(value, float) and value.is_integer():
        value = int(value)  # TOML may write a whole number as 2.0
    try:
        return _EFFECTS[kind](value)
    except ArgumentError as exc:
        # "AddServers: servers must be an integer >= 1, not 0" -> "project effect add_servers must be ..."
        allowed = str(exc).split(" must ", 1)[1]
        raise ConfigError(f"project effect {kind} must {allowed}") from None


@dataclass(frozen=True)
class LeadTime:
    """A three-point lead-time estimate in days, PERT distributed.

    The PERT distribution is a Beta on ``[optimistic, pessimistic]`` with shape parameters
    ``alpha = 1 + 4 (likely - optimistic) / (pessimistic - optimistic)`` and
    ``beta = 1 + 4 (pessimistic - likely) / (pessimistic - optimistic)``; its mean is
    ``(optimistic + 4 likely + pessimistic) / 6``. Equal bounds give a fixed lead time.

    Parameters
    ----------
    optimistic, likely, pessimistic : float
        Lead times [days], finite, with ``0 <= optimistic <= likely <= pessimistic``.
    """

    optimistic: float
    likely: float
    pessimistic: float

    def __post_init__(self) -> None:
        o, m = self.optimistic, self.likely
        # checked in order, so each bound below is a number by the time it is used
        check_args("LeadTime", optimistic=(o, [Interval(float, 0, None)]),
                   likely=(m, [Interval(float, o, None)]),
                   pessimistic=(self.pessimistic, [Interval(float, m, None)]))

    @property
    def mean(self) -> float:
        """PERT mean [days]."""
        return (self.optimistic + 4 * self.likely + self.pessimistic) / 6

    def _beta(self) -> Any:
        from scipy import stats  # on first use: planning imports without scipy

        o, m, p = self.optimistic, self.likely, self.pessimistic
        width = p - o
        return stats.beta(1 + 4 * (m - o) / width, 1 + 4 * (p - m) / width, loc=o, scale=width)

    def ppf(self, q: Any) -> Any:
        """Lead-time quantiles [days] at probabilities ``q`` (float or array)."""
        if self.pessimistic == self.optimistic:
            return np.full(np.shape(q), self.optimistic) if np.ndim(q) else self.optimistic
        return self._beta().ppf(q)

    def cdf(self, days: Any) -> Any:
        """P(lead time <= days), ``days`` [days] a float or an array."""
        if self.pessimistic == self.optimistic:
            return np.where(np.asarray(days) >= self.optimistic, 1.0, 0.0)
        return self._beta().cdf(days)

    def sample(self, n: int, rng: np.random.Generator, *, elapsed: float = 0.0) -> np.ndarray:
        """``n`` lead times [days], given that ``elapsed`` days have passed without landing.

        With ``elapsed > 0`` the draws come from the distribution conditioned on ``L > elapsed``
        (inverse-CDF sampling from its upper part). A project already past its pessimistic
        estimate lands the day after ``elapsed`` at the earliest.
        """
        u = rng.random(n)
        if elapsed <= self.optimistic:
            return np.asarray(self.ppf(u), dtype=float)
        floor = float(self.cdf(elapsed))
        if floor >= 1.0:
            return np.full(n, elapsed + 1.0)
        return np.maximum(np.asarray(self.ppf(floor + (1 - floor) * u), dtype=float), elapsed + 1.0)


def _lead_time(value: Any) -> LeadTime:
    """A project's lead time from a LeadTime or three numbers (as floats, days)."""
    if isinstance(value, LeadTime):
        return value
    try:
        lead = LeadTime(*value)
    except (ArgumentError, TypeError):  # TypeError: not three values
        raise ArgumentError("Project: lead_time must be a LeadTime or (optimistic, likely, pessimistic) days "
                            f"with 0 <= optimistic <= likely <= pessimistic, not {describe(value)}") from None
    return LeadTime(float(lead.optimistic), float(lead.likely), float(lead.pessimistic))


@dataclass(frozen=True)
class Project:
    """An infrastructure project: what it changes, how long it takes, and when it is planned.

    Parameters
    ----------
    name : str
    effect : SwitchStrategy, AddServers or ScaleCost
    lead_time : LeadTime or (optimistic, likely, pessimistic) days
    start : date, optional
        Planned (or actual) start; it lands ``lead_time`` later.
    land : date, optional
        Planned landing date. Once it has passed without ``landed`` being set, the project is
        *overdue* and lands tomorrow at the earliest.
    landed : date, optional
        The date it actually landed. On or before ``as_of`` the project is done (its effect is
        expected to show in the data); a later date is read as a planned landing.

    At most one of ``start``, ``land`` and ``landed`` may be given. Dates are ISO 8601 strings,
    dates or Timestamps; they are stored as midnight Timestamps.
    """

    name: str
    _: KW_ONLY
    effect: Effect
    lead_time: LeadTime | tuple[float, float, float]
    start: dt.date | None = None
    landed: dt.date | None = None
    land: dt.date | None = None

    def __post_init__(self) -> None:
        date = [DateLike(), None]
        check_args("Project", name=(self.name, [Text()]),
                   effect=(self.effect, [InstanceOf(SwitchStrategy, AddServers, ScaleCost)]),
                   lead_time=(self.lead_time, [InstanceOf(LeadTime, Sequence, np.ndarray)]),
                   start=(self.start, date), land=(self.land, date), landed=(self.landed, date))
        object.__setattr__(self, "lead_time", _lead_time(self.lead_time))
        if sum(x is not None for x in (self.start, self.land, self.landed)) > 1:
            raise ArgumentError(f"Project {self.name!r}: give a planned start or a landing date, not both")
        for attr in ("start", "land", "landed"):
            value = getattr(self, attr)
            if value is not None:
                object.__setattr__(self, attr, pd.Timestamp(value).normalize())
