"""Infrastructure projects: what each changes, its lead time, and its plan dates."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from capacity.errors import CapacityError

if TYPE_CHECKING:
    pass

__all__ = ["SwitchStrategy", "AddServers", "ScaleCost", "Effect", "effect_from_config", "LeadTime", "Project",
           "DONE"]

#: project statuses that need no deadline
DONE = ("landed", "in effect")


@dataclass(frozen=True)
class SwitchStrategy:
    """Route messages with another fan-out strategy (a name known to the load model)."""

    strategy: str

    def describe(self) -> str:
        return f"switch to {self.strategy}"


@dataclass(frozen=True)
class AddServers:
    """Put ``servers`` more messaging servers in service."""

    servers: int

    def __post_init__(self) -> None:
        if not (isinstance(self.servers, int | np.integer) and self.servers >= 1):
            raise ValueError(f"AddServers needs a whole number of servers >= 1, not {self.servers!r}")

    def describe(self) -> str:
        return f"+{self.servers} servers"


@dataclass(frozen=True)
class ScaleCost:
    """Multiply the messaging tier's CPU cost by ``factor`` (0.8 = a 20% efficiency gain)."""

    factor: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.factor) and self.factor > 0):
            raise ValueError(f"ScaleCost needs a factor > 0, not {self.factor!r}")

    def describe(self) -> str:
        return f"cost x{self.factor:g}"


Effect = SwitchStrategy | AddServers | ScaleCost


def effect_from_config(kind: str, value: Any) -> Effect:
    """Build an effect from its config form (``{strategy = "targeted"}`` -> ``("strategy", "targeted")``)."""
    if kind == "strategy":
        return SwitchStrategy(str(value))
    if kind == "add_servers":
        return AddServers(int(value))
    if kind == "cost_factor":
        return ScaleCost(float(value))
    raise CapacityError(f"unknown project effect {kind!r} (known: strategy, add_servers, cost_factor)")


@dataclass(frozen=True)
class LeadTime:
    """A three-point lead-time estimate in days, PERT distributed.

    The PERT distribution is a Beta on ``[optimistic, pessimistic]`` with shape parameters
    ``alpha = 1 + 4 (likely - optimistic) / (pessimistic - optimistic)`` and
    ``beta = 1 + 4 (pessimistic - likely) / (pessimistic - optimistic)``; its mean is
    ``(optimistic + 4 likely + pessimistic) / 6``. Equal bounds give a fixed lead time.
    """

    optimistic: float
    likely: float
    pessimistic: float

    def __post_init__(self) -> None:
        o, m, p = self.optimistic, self.likely, self.pessimistic
        if not all(math.isfinite(x) for x in (o, m, p)) or not 0 <= o <= m <= p:
            raise ValueError(
                f"lead time needs 0 <= optimistic <= likely <= pessimistic days, not {(o, m, p)}")

    @property
    def mean(self) -> float:
        """PERT mean [days]."""
        return (self.optimistic + 4 * self.likely + self.pessimistic) / 6

    def _beta(self) -> Any:
        o, m, p = self.optimistic, self.likely, self.pessimistic
        width = p - o
        return stats.beta(1 + 4 * (m - o) / width, 1 + 4 * (p - m) / width, loc=o, scale=width)

    def ppf(self, q: Any) -> Any:
        """Lead-time quantiles [days]."""
        if self.pessimistic == self.optimistic:
            return np.full(np.shape(q), self.optimistic) if np.ndim(q) else self.optimistic
        return self._beta().ppf(q)

    def cdf(self, days: Any) -> Any:
        """P(lead time <= days)."""
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
    """

    name: str
    _: KW_ONLY
    effect: Effect
    lead_time: LeadTime | tuple[float, float, float]
    start: dt.date | None = None
    landed: dt.date | None = None
    land: dt.date | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.lead_time, LeadTime):
            object.__setattr__(self, "lead_time", LeadTime(*map(float, self.lead_time)))
        if sum(x is not None for x in (self.start, self.land, self.landed)) > 1:
            raise ValueError(f"project {self.name!r}: give a planned start or a landing date, not both")
        for attr in ("start", "land", "landed"):
            value = getattr(self, attr)
            if value is not None:
                object.__setattr__(self, attr, pd.Timestamp(value).normalize())
