"""Deadlines: when utilisation crosses the limit, and by when each project must land and start.

Monte Carlo over futures: path ``i`` pairs growth path ``i`` (apps per day) with draw ``i`` of the
messaging cost parameters, so growth and load uncertainty both reach the dates. On each path the
*crossing* is the first day the mean CPU of the average messaging server reaches the limit.

Day counting: day 0 is ``as_of`` (the last day of data); the horizon covers days 1..H. A project
that *lands* on day d is in effect from day d on, so landing on the crossing day is just in time
and landing after it is late.

Projects form a roadmap, ordered by their planned landing (unscheduled ones last, in the order
given). Project k must land before the system *without* it first crosses the limit: the system
with projects 1..k-1 in effect from their own (uncertain) landing days. Its runway is the crossing
of the system with project k added, from the day it lands.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import types
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from capacity.errors import CapacityError

if TYPE_CHECKING:
    import altair as alt

__all__ = [
    "SwitchStrategy",
    "AddServers",
    "ScaleCost",
    "LeadTime",
    "Project",
    "LatencyLimit",
    "FixedLoad",
    "Crossing",
    "Plan",
    "plan",
    "effect_from_config",
    "drift",
    "threshold_crossing",
]

QUANTILES = (0.1, 0.5, 0.9)
#: project statuses that need no deadline
DONE = ("landed", "in effect")


# ----------------------------------------------------------------------------- projects


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


# ----------------------------------------------------------------------------- limits and load


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
        from capacity.queueing import utilisation_limit

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


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Crossing:
    """When the limit is crossed: quantiles of the crossing date and the chance of no crossing.

    A quantile that falls beyond the horizon is ``None`` (stated, never infinity or NaN).
    """

    p10: pd.Timestamp | None
    p50: pd.Timestamp | None
    p90: pd.Timestamp | None
    p_none: float  # P(no crossing within the horizon)
    horizon_end: pd.Timestamp
    p_now: float = 0.0  # P(already at or above the limit on day 0)

    def describe(self) -> str:
        """The crossing in words: 'between ... and ... (median ...)' or what is known of it."""
        end = self.horizon_end.date()
        if self.p10 is None:
            return f"not before {end} ({1 - self.p_none:.0%} chance of crossing by then)"
        if self.p90 is None:
            median = self.p50.date() if self.p50 is not None else f"after {end}"
            return (f"as early as {self.p10.date()} (P10), median {median}; "
                    f"{self.p_none:.0%} chance of no crossing by {end}")
        return f"between {self.p10.date()} and {self.p90.date()} (median {self.p50.date()})"


@dataclass(frozen=True, eq=False)
class Plan:
    """The result of :func:`plan` (do not build by hand).

    Attributes
    ----------
    as_of : Timestamp
        Day 0: the last day of data.
    limit : float
        The utilisation limit (fraction) the crossing refers to.
    confidence : float
        Must-land and must-start dates hold with this probability.
    crossing : Crossing
        When the current set-up (no project) first reaches the limit.
    deadlines : DataFrame
        One row per project, in roadmap order (see :attr:`DEADLINE_COLUMNS`).
    utilisation : DataFrame
        Daily quantiles of the current set-up's utilisation (date; p10, p50, p90 as fractions).
    crossing_days : ndarray
        The crossing day of every path (``inf`` = none within the horizon), for charts and tests.
    """

    as_of: pd.Timestamp
    limit: float
    confidence: float
    horizon_days: int
    strategy: str
    servers: int
    crossing: Crossing
    deadlines: pd.DataFrame
    utilisation: pd.DataFrame
    crossing_days: np.ndarray = field(repr=False)
    n_paths: int = 0
    apps: pd.DataFrame | None = field(default=None, repr=False)  # daily app-count quantiles

    DEADLINE_COLUMNS = ("project", "effect", "status", "planned_landing", "must_land_by", "must_start_by",
                        "p_late", "at_risk", "runway_p10", "runway_p50", "runway_p90", "runway_p_none")

    def __repr__(self) -> str:
        risky = int(self.deadlines["at_risk"].sum()) if len(self.deadlines) else 0
        return (f"Plan(as_of={self.as_of.date()}, limit={self.limit:.0%}, crossing "
                f"{self.crossing.describe()}, projects={len(self.deadlines)}, at_risk={risky})")

    @property
    def headline(self) -> str:
        """One sentence a planner reads first."""
        c = self.crossing
        if c.p_now >= 0.5:
            text = (f"Messaging is at or above {self.limit:.0%} already on {self.as_of.date()} "
                    f"({c.p_now:.0%} likely)")
        elif c.p10 is None:
            text = (f"Messaging stays under {self.limit:.0%} until at least {c.horizon_end.date()} "
                    f"({1 - c.p_none:.0%} chance of crossing by then)")
        else:
            text = f"Messaging crosses {self.limit:.0%} {c.describe()}"
        parts = [text]
        pending = self.deadlines[~self.deadlines["status"].isin(DONE)]
        for row in pending.head(1).itertuples():
            if pd.isna(row.must_land_by):
                parts.append(f"{row.project} is not needed within the horizon")
                continue
            part = f"{row.project} must land by {row.must_land_by.date()} ({self.confidence:.0%})"
            if pd.notna(row.planned_landing):
                part += f"; planned {row.planned_landing.date()}, P(late) {row.p_late:.0%}"
            if row.at_risk:
                part += ": AT RISK"
            parts.append(part)
        risky, open_ = int(self.deadlines["at_risk"].sum()), len(pending)
        if open_ > 1:
            parts.append(f"{risky} of {open_} projects at risk")
        return "; ".join(parts) + "."

    def summary(self) -> pd.DataFrame:
        """The crossing and the deadlines as one tidy table (one row per item)."""
        c = self.crossing
        rows = [{"item": "crossing (no project)", "p10": c.p10, "p50": c.p50, "p90": c.p90,
                 "p_none": c.p_none}]
        for r in self.deadlines.itertuples():
            rows.append({"item": r.project, "p10": r.runway_p10, "p50": r.runway_p50, "p90": r.runway_p90,
                         "p_none": r.runway_p_none, "must_land_by": r.must_land_by,
                         "must_start_by": r.must_start_by, "planned_landing": r.planned_landing,
                         "p_late": r.p_late, "at_risk": r.at_risk, "status": r.status})
        return pd.DataFrame(rows)

    def chart(self) -> alt.VConcatChart:
        """Utilisation fan with the limit, the crossing-date distribution, and project windows."""
        from capacity.plan_charts import plan_chart

        return plan_chart(self)


# ----------------------------------------------------------------------------- the Monte Carlo


def _first_crossing(above: np.ndarray, days: np.ndarray, start: np.ndarray) -> np.ndarray:
    """First day >= start[i] on which above[i] holds (days: the day number of each column); inf if none."""
    hit = above & (days[None, :] >= start[:, None])
    return np.where(hit.any(axis=1), days[np.argmax(hit, axis=1)], np.inf)


def _quantile_days(days: np.ndarray, q: float) -> float:
    """Lower empirical quantile of day offsets (inf allowed)."""
    finite_sorted = np.sort(days)
    k = max(int(np.ceil(q * len(days))) - 1, 0)
    return float(finite_sorted[k])


class _System:
    """Utilisation of the messaging tier on every path and day, for any set of landed projects."""

    def __init__(self, apps: np.ndarray, params: pd.DataFrame, load: Any, strategy: str, servers: int,
                 first_day: int):
        from capacity.messaging import busy_cores

        self.apps, self.load = apps, load
        self.cores = float(load.cores_per_server)
        self.servers = servers
        self.days = np.arange(first_day, first_day + apps.shape[1], dtype=float)  # day number per column
        self._busy: dict[str, np.ndarray] = {}
        self._busy_cores, self._params = busy_cores, params
        self.strategy = strategy

    def first_crossing(self, above: np.ndarray, start: np.ndarray) -> np.ndarray:
        return _first_crossing(above, self.days, start)

    def busy(self, name: str) -> np.ndarray:
        if name not in self._busy:
            known = self.load.strategies
            if name not in known:
                raise CapacityError(f"strategy {name!r} is not known to the load model "
                                    f"(known: {', '.join(known)})")
            self._busy[name] = self._busy_cores(self.apps, strategy=known[name], params=self._params)
        return self._busy[name]

    def utilisation(self, landed: Sequence[tuple[Effect, np.ndarray]]) -> np.ndarray:
        """Utilisation with each (effect, landing day per path) in effect from its landing day."""
        n, h = self.apps.shape
        days = self.days[None, :]
        servers = np.full((n, h), float(self.servers))
        factor = np.ones((n, h))
        strategy = np.zeros((n, h), dtype=np.int8)
        switched_at = np.full((n, h), -np.inf)
        names = [self.strategy]
        for effect, land in landed:
            on = days >= land[:, None]
            if isinstance(effect, AddServers):
                servers += effect.servers * on
            elif isinstance(effect, ScaleCost):
                factor = np.where(on, factor * effect.factor, factor)
            else:
                if effect.strategy not in names:
                    names.append(effect.strategy)
                later = on & (land[:, None] > switched_at)  # the switch that landed last wins
                strategy = np.where(later, names.index(effect.strategy), strategy)
                switched_at = np.where(later, land[:, None], switched_at)
        busy = self.busy(names[0]).copy() if len(names) == 1 else np.choose(
            strategy, [self.busy(s) for s in names])
        return busy * factor / (servers * self.cores)


def plan(
    growth: Any,
    load: Any,
    *,
    strategy: str,
    servers: int,
    limit: float | LatencyLimit,
    projects: Sequence[Project] = (),
    confidence: float = 0.9,
    horizon_days: int = 365,
    n_paths: int = 2000,
    seed: int = 0,
    as_of: Any = None,
) -> Plan:
    """When does utilisation cross the limit, and by when must each project land and start?

    Parameters
    ----------
    growth : GrowthFit or DataFrame
        A fitted growth model (its :meth:`paths` are drawn) or a frame of app-count paths (rows =
        paths, columns = consecutive future days).
    load : MessagingModel or FixedLoad
        The messaging cost model; its :meth:`draws` supply parameter uncertainty.
    strategy : str
        Fan-out strategy in force now (a name known to ``load``).
    servers : int
        Messaging servers in service now.
    limit : float or LatencyLimit
        Utilisation limit of the average server (fraction, e.g. 0.7), or a latency target.
    projects : sequence of Project
    confidence : float, default 0.9
        Must-land-by and must-start-by dates hold with this probability.
    horizon_days : int, default 365
    n_paths : int, default 2000
    seed : int, default 0
        Same inputs and seed, same plan.
    as_of : date, optional
        Day 0; default the day before the first path day. Projects that landed on or before it
        count as landed (their effect is expected to be in the data already).

    Returns
    -------
    Plan
    """
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must lie in 0.5..1, not {confidence!r}")
    if isinstance(limit, LatencyLimit):
        limit = limit.utilisation(load.cores_per_server)
    if not 0 < float(limit) <= 1:
        raise ValueError(f"limit is a utilisation in (0, 1], not {limit!r} (70% is 0.7)")
    limit = float(limit)
    if strategy not in load.strategies:
        raise CapacityError(f"strategy {strategy!r} is not known to the load model "
                            f"(known: {', '.join(load.strategies)})")
    # independent streams: growth paths, and the load draws and lead times
    growth_seq, mc_seq = np.random.SeedSequence(seed).spawn(2)
    day0, apps, first_day = _aligned_apps(growth, as_of, horizon_days, n_paths,
                                          int(growth_seq.generate_state(1)[0]))
    n = len(apps)
    horizon = horizon_days
    rng = np.random.default_rng(mc_seq)
    params = load.draws(n, seed=rng)
    system = _System(apps, params, load, strategy, servers, first_day)

    base_util = system.utilisation([])
    crossing_days = system.first_crossing(base_util >= limit, np.full(n, float(first_day)))
    crossing = _crossing(crossing_days, day0, horizon)

    # the roadmap: order by planned landing, unscheduled last
    items = []
    for i, project in enumerate(projects):
        lead = project.lead_time.sample(n, rng)  # for must-start-by: a start from scratch
        fixed = project.landed if project.landed is not None else project.land
        if fixed is not None and project.landed is None and project.land <= day0:
            # overdue: its planned date passed unreported. It may slip by as much as its estimate was
            # uncertain: tomorrow plus a draw of (lead time - optimistic)
            land = 1.0 + np.ceil(project.lead_time.sample(n, rng) - project.lead_time.optimistic)
            planned = fixed
        elif fixed is not None:
            land = np.full(n, max(float((fixed - day0).days), 1.0))
            planned = fixed
        elif project.start is not None:
            # a started project not reported landed: its lead time is conditioned on the days spent
            elapsed = max(float((day0 - project.start).days), 0.0)
            remaining = project.lead_time.sample(n, rng, elapsed=elapsed)
            land = np.maximum(np.ceil((project.start - day0).days + remaining), 1.0)
            planned = day0 + pd.Timedelta(days=float(np.median(land)))
        else:
            land, planned = None, None
        items.append((planned if planned is not None else pd.Timestamp.max, i, project, lead, land, planned))
    items.sort(key=lambda t: (t[0], t[1]))

    # above[i, j]: the roadmap so far (no project yet) is at or over the limit on path i, day j
    rows, landed_so_far, above = [], [], base_util >= limit
    for _, _, project, lead, land, planned in items:
        row = {"project": project.name, "effect": project.effect.describe(), "planned_landing": planned}
        done = None
        if project.landed is not None and project.landed <= day0:
            done = "landed"
        elif isinstance(project.effect, SwitchStrategy) and project.effect.strategy == strategy:
            done = "in effect"  # the data already show the strategy it switches to
        if done:
            row.update(status=done, must_land_by=None, must_start_by=None, p_late=None, at_risk=False,
                       runway_p10=None, runway_p50=None, runway_p90=None, runway_p_none=None)
            rows.append(row)
            continue
        start_all = np.full(n, float(first_day))
        before = system.first_crossing(above, start_all)
        must_land = _quantile_days(before, 1 - confidence)
        must_start = _quantile_days(before - lead, 1 - confidence)
        row["must_land_by"] = _date(day0, must_land, horizon)
        row["must_start_by"] = _date(day0, must_start, horizon)
        if land is None:
            row["status"], row["p_late"] = "unscheduled", None
            row["at_risk"] = bool(row["must_start_by"] is not None and row["must_start_by"] < day0)
            if not math.isfinite(must_land) or must_land > horizon:
                # never needed within the horizon: it buys nothing we can measure
                row.update(runway_p10=None, runway_p50=None, runway_p90=None, runway_p_none=None)
                rows.append(row)
                continue
            land = np.full(n, max(must_land, 1.0))  # assume it lands just in time
        else:
            overdue = project.landed is None and project.land is not None and project.land <= day0
            if overdue:
                row["status"] = "overdue"
            elif project.start is not None and project.start <= day0:
                row["status"] = "in progress"
            else:
                row["status"] = "planned"
            p_late = float(np.mean(land > before))
            row["p_late"] = p_late
            row["at_risk"] = bool(p_late > 1 - confidence)
        landed_so_far = [*landed_so_far, (project.effect, land)]
        above = system.utilisation(landed_so_far) >= limit  # the next project's "before" too
        after = system.first_crossing(above, np.maximum(land, 1.0))
        runway = _crossing(after, day0, horizon)
        row.update(runway_p10=runway.p10, runway_p50=runway.p50, runway_p90=runway.p90,
                   runway_p_none=runway.p_none)
        rows.append(row)

    deadlines = pd.DataFrame(rows, columns=list(Plan.DEADLINE_COLUMNS))
    deadlines["at_risk"] = deadlines["at_risk"].astype(bool)
    deadlines["p_late"] = deadlines["p_late"].astype(float)
    deadlines["runway_p_none"] = deadlines["runway_p_none"].astype(float)
    for column in ("planned_landing", "must_land_by", "must_start_by",
                   "runway_p10", "runway_p50", "runway_p90"):
        # NaT here means "none within the horizon" (or "not applicable" for a landed project)
        deadlines[column] = pd.to_datetime(deadlines[column]).astype("datetime64[ns]")
    future = slice(1 - first_day, None)  # the daily tables cover days 1..H
    dates = pd.date_range(day0 + pd.Timedelta(days=1), periods=horizon, freq="D", name="date")
    names = [f"p{round(q * 100)}" for q in QUANTILES]
    utilisation = pd.DataFrame(np.quantile(base_util[:, future], QUANTILES, axis=0).T, index=dates,
                               columns=names)
    apps_q = pd.DataFrame(np.quantile(apps[:, future], QUANTILES, axis=0).T, index=dates, columns=names)
    return Plan(as_of=day0, limit=limit, confidence=confidence, horizon_days=horizon, strategy=strategy,
                servers=servers, crossing=crossing, deadlines=deadlines, utilisation=utilisation,
                crossing_days=crossing_days, n_paths=n, apps=apps_q)


def _aligned_apps(
    growth: Any, as_of: Any, horizon_days: int, n_paths: int, seed: int
) -> tuple[pd.Timestamp, np.ndarray, int]:
    """App counts on days ``first_day..horizon`` after ``as_of`` (day 0), one row per path.

    A fitted growth model also gives day 0 (its last count, or its own forecast of day 0 when the
    data end before ``as_of``), so a limit already reached today shows as a crossing on day 0.
    A frame of paths starts on day 1.
    """
    if isinstance(growth, pd.DataFrame):
        paths = growth
        if not isinstance(paths.columns, pd.DatetimeIndex):
            raise CapacityError("growth paths need daily dates as columns")
        first = paths.columns[0]
        day0 = pd.Timestamp(as_of).normalize() if as_of is not None else first - pd.Timedelta(days=1)
        skip = (day0 + pd.Timedelta(days=1) - paths.columns[0]).days
        if skip < 0:
            raise CapacityError(f"growth paths start on {paths.columns[0].date()}; the plan as of "
                                f"{day0.date()} needs them from {(day0 + pd.Timedelta(days=1)).date()}")
        values = paths.to_numpy(float)[:, skip:skip + horizon_days]
        if values.shape[1] < horizon_days:
            raise CapacityError(f"growth paths cover {values.shape[1]} days after {day0.date()}; the "
                                f"horizon is {horizon_days} days")
        return day0, values, 1
    if not hasattr(growth, "paths"):
        raise TypeError(f"growth must be a GrowthFit or a DataFrame of paths, not {type(growth).__name__}")
    last = pd.Timestamp(growth.last_date).normalize()
    day0 = pd.Timestamp(as_of).normalize() if as_of is not None else last
    lag = (day0 - last).days
    if lag < 0:
        raise CapacityError(f"as_of {day0.date()} is before the growth fit's last day {last.date()}: "
                            "fit the growth on the data known on as_of")
    paths = growth.paths(horizon_days + lag, n=n_paths, seed=seed).to_numpy(float)
    today = paths[:, lag - 1:lag] if lag else np.full((len(paths), 1), float(growth.last_value))
    return day0, np.concatenate([today, paths[:, lag:]], axis=1), 0


def _date(day0: pd.Timestamp, day: float, horizon: int) -> pd.Timestamp | None:
    """Day offset -> date; None beyond the horizon (stated as such, never inf or NaN)."""
    if not math.isfinite(day) or day > horizon:
        return None
    return day0 + pd.Timedelta(days=math.floor(day))  # floor: a start 0.5 days ago was yesterday


def _crossing(days: np.ndarray, day0: pd.Timestamp, horizon: int) -> Crossing:
    q = {f"p{round(x * 100)}": _date(day0, _quantile_days(days, x), horizon) for x in QUANTILES}
    return Crossing(**q, p_none=float(np.mean(~np.isfinite(days))),
                    horizon_end=day0 + pd.Timedelta(days=horizon), p_now=float(np.mean(days <= 0)))


def drift(before: Plan, after: Plan) -> pd.DataFrame:
    """How far the dates moved between two plans (e.g. one made on an earlier growth window).

    Parameters
    ----------
    before, after : Plan

    Returns
    -------
    DataFrame
        One row per date that both plans state: the crossing quantiles, then each project's
        must-land-by and must-start-by. Columns item, what, before, after, days_moved (negative:
        the date moved earlier).
    """
    rows = []
    for q in ("p10", "p50", "p90"):
        rows.append(("crossing", q, getattr(before.crossing, q), getattr(after.crossing, q)))
    a = after.deadlines.set_index("project")
    for r in before.deadlines.itertuples():
        if r.project in a.index:
            for what in ("must_land_by", "must_start_by"):
                rows.append((r.project, what, getattr(r, what), a.loc[r.project, what]))
    frame = pd.DataFrame(rows, columns=["item", "what", "before", "after"])
    for column in ("before", "after"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    frame["days_moved"] = (frame["after"] - frame["before"]).dt.days.astype("Int64")
    return frame


def threshold_crossing(
    growth: Any,
    threshold: float,
    *,
    horizon_days: int = 365,
    n_paths: int = 2000,
    seed: int = 0,
) -> Crossing:
    """When does the forecast count itself reach ``threshold`` (e.g. a region's app capacity)?

    Parameters
    ----------
    growth : GrowthFit or DataFrame
        A fitted growth model or a frame of paths (rows = paths, columns = consecutive days).
    threshold : float
        The count that must not be reached [same unit as the series].
    horizon_days, n_paths, seed
        As in :func:`plan`.

    Returns
    -------
    Crossing
        Day 0 is the fit's last day (a count already at the threshold crosses on day 0), or the
        day before the first path day for a frame of paths.
    """
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, not {threshold!r}")
    day0, values, first_day = _aligned_apps(growth, None, horizon_days, n_paths, seed)
    numbers = np.arange(first_day, first_day + values.shape[1], dtype=float)
    days = _first_crossing(values >= threshold, numbers, np.full(len(values), float(first_day)))
    return _crossing(days, day0, horizon_days)


class _PlanModule(types.ModuleType):
    """``capacity.plan`` is both this module and, called, :func:`plan`.

    Importing ``capacity.plan`` binds the package attribute ``plan`` to the module whatever the
    package does first, so the module itself forwards calls: ``capacity.plan(growth, load, ...)``
    and ``capacity.plan.Project`` both work in any import order.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Plan:
        return plan(*args, **kwargs)


sys.modules[__name__].__class__ = _PlanModule
