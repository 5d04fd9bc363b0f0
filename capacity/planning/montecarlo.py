"""The Monte Carlo planner: :func:`plan` (deadlines of a roadmap) and :func:`threshold_crossing`.

Monte Carlo over futures: path ``i`` pairs growth path ``i`` (apps per day) with draw ``i`` of the
messaging cost parameters, so growth and load uncertainty both reach the dates. On each path the
*crossing* is the first day the watched utilisation reaches the limit: by default the daily mean CPU
of the average messaging server; with a :class:`~capacity.planning.limits.Watch`, the busiest hour
(or a quantile of the hours) of the average or the hottest server, with spare servers out of service.

Day counting: day 0 is ``as_of`` (the last day of data); the horizon covers days 1..H. A project
that *lands* on day d is in effect from day d on, so landing on the crossing day is just in time
and landing after it is late.

Projects form a roadmap, ordered by their planned landing (unscheduled ones last, in the order
given). Project k must land before the system *without* it first crosses the limit: the system
with projects 1..k-1 in effect from their own (uncertain) landing days. Its runway is the crossing
of the system with project k added, from the day it lands.

The inputs come from :mod:`capacity.planning.projects` and :mod:`capacity.planning.limits`; the
results are the types of :mod:`capacity.planning.result`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import ArgumentError
from capacity.planning.limits import LatencyLimit, Watch
from capacity.planning.projects import AddServers, Effect, LeadTime, Project, ScaleCost, SwitchStrategy
from capacity.planning.result import QUANTILES, Crossing, Plan, crossing_of, day_to_date, quantile_days
from capacity.validation import DateLike, HasMethods, InstanceOf, Interval, Options, check_args

__all__ = ["plan", "threshold_crossing"]

#: longest horizon a plan simulates [days]: a century keeps every date within pandas' range
MAX_HORIZON_DAYS = 36_500
#: most Monte Carlo paths of one plan (each path is horizon_days floats per roadmap state)
MAX_PATHS = 1_000_000


class _GrowthPathCount(Interval):
    """A number of growth paths; the message says what is counted (paths drawn from ``growth``)."""

    def __str__(self) -> str:
        return f"{super().__str__()} (paths drawn from growth)"


_GROWTH = [HasMethods("paths", "last_date", "last_value", what="a GrowthFit"), InstanceOf(pd.DataFrame)]
_LOAD = HasMethods("draws", "strategies", "cores_per_server", what="a MessagingModel or FixedLoad")
_HORIZON = Interval(int, 1, MAX_HORIZON_DAYS)
_N_PATHS = _GrowthPathCount(int, 1, MAX_PATHS)
_SEED = Interval(int, 0, None)  # a SeedSequence's entropy
# no runway: the project is done, or not needed within the horizon
_NO_RUNWAY = {"runway_p10": None, "runway_p50": None, "runway_p90": None, "runway_p_none": None}


def _first_crossing(above: np.ndarray, days: np.ndarray, start: np.ndarray) -> np.ndarray:
    """First day >= start[i] on which above[i] holds (days: the day number of each column); inf if none."""
    hit = above & (days[None, :] >= start[:, None])
    return np.where(hit.any(axis=1), days[np.argmax(hit, axis=1)], np.inf)


class _System:
    """Utilisation of the messaging tier on every path and day, for any set of landed projects.

    ``apps`` holds one row per path and one column per day from ``first_day`` on; ``params`` one
    draw of the cost parameters per path. The busy cores of each strategy are computed once.
    """

    def __init__(self, apps: np.ndarray, params: pd.DataFrame, load: Any, strategy: str, servers: int,
                 first_day: int, watch: Watch | None = None):
        from capacity.load.messaging import busy_cores

        self.apps, self.load = apps, load
        self.cores = float(load.cores_per_server)
        self.servers = servers
        self.watch = watch = watch if watch is not None else Watch()  # the daily mean, average server
        self.peak, self.share = watch.factors(getattr(load, "profile", None))
        self.u0 = params["u0"].to_numpy(dtype=float)[:, None]
        self.days = np.arange(first_day, first_day + apps.shape[1], dtype=float)  # day number per column
        self._busy: dict[str, np.ndarray] = {}
        self._busy_cores, self._params = busy_cores, params
        self.strategy = strategy

    @property
    def n_paths(self) -> int:
        return self.apps.shape[0]

    def first_crossing(self, above: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Per path, the first day >= ``start`` on which ``above`` holds (inf: none)."""
        return _first_crossing(above, self.days, start)

    def busy(self, name: str) -> np.ndarray:
        """Busy cores under strategy ``name`` (a name the plan checked against the load model)."""
        if name not in self._busy:
            strategy = self.load.strategies[name]
            self._busy[name] = self._busy_cores(self.apps, strategy=strategy, params=self._params)
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
        if self.peak != 1.0:  # the busy hours swing the load above background only
            busy = self.u0 + (busy - self.u0) * self.peak
        return busy * factor * self.share / ((servers - self.watch.spare_servers) * self.cores)


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
    metric: str = "daily_mean",
    metric_quantile: float | None = None,
    server: str = "average",
    spare_servers: int = 0,
) -> Plan:
    """When does utilisation cross the limit, and by when must each project land and start?

    Parameters
    ----------
    growth : GrowthFit or DataFrame
        A fitted growth model (its :meth:`paths` are drawn) or a frame of app-count paths (rows =
        paths, columns = consecutive future days) [apps].
    load : MessagingModel or FixedLoad
        The messaging cost model; its :meth:`draws` supply parameter uncertainty.
    strategy : str
        Fan-out strategy in force now (a name known to ``load``).
    servers : int
        Messaging servers in service now (>= 1).
    limit : float or LatencyLimit
        Utilisation limit of the watched server (fraction in (0, 1], e.g. 0.7), or a latency target.
    projects : sequence of Project
        The roadmap; a project switching strategy must name a strategy known to ``load``.
    confidence : float, default 0.9
        Must-land-by and must-start-by dates hold with this probability (in [0.5, 1)).
    horizon_days : int, default 365
        Days simulated after ``as_of`` (1 to 36,500).
    n_paths : int, default 2000
        Growth paths drawn from a GrowthFit (1 to 1,000,000); a frame of paths uses all its rows.
    seed : int, default 0
        Same inputs and seed, same plan (>= 0).
    as_of : date, optional
        Day 0; default the growth fit's last day, or the day before the first day of a frame of
        paths. Projects that landed on or before it count as landed (their effect is expected to be
        in the data already).
    metric : {"daily_mean", "busiest_hour", "quantile"}, default "daily_mean"
        What of each day must stay under the limit: its mean, its busiest hour, or the
        ``metric_quantile`` quantile of its hours. The busy hours swing the load above background
        by the load's intraday profile (:mod:`capacity.load.profile`).
    metric_quantile : float, optional
        With ``metric="quantile"`` (and only then): the quantile of the day's hours, in (0, 1).
    server : {"average", "hottest"}, default "average"
        The average server, or the one that carries the largest share of the load (its share
        from the load's profile).
    spare_servers : int, default 0
        The limit must hold with this many servers out of service (N+k): utilisation is that of
        ``servers - spare_servers`` servers (plus any added by projects); less than ``servers``.

    Returns
    -------
    Plan

    Raises
    ------
    ArgumentError
        An argument of the wrong type or out of range (the message names it), or growth paths that
        do not cover the horizon after ``as_of``.
    """
    limit = _check_plan(growth, load, strategy=strategy, servers=servers, limit=limit, projects=projects,
                        confidence=confidence, horizon_days=horizon_days, n_paths=n_paths, seed=seed,
                        as_of=as_of)
    watch = _check_watch(load, servers, metric=metric, metric_quantile=metric_quantile, server=server,
                         spare_servers=spare_servers)
    # independent streams: growth paths, and the load draws and lead times
    growth_seq, mc_seq = np.random.SeedSequence(seed).spawn(2)
    day0, apps, first_day = _aligned_apps("plan", growth, as_of, horizon_days, n_paths,
                                          int(growth_seq.generate_state(1)[0]))
    rng = np.random.default_rng(mc_seq)
    system = _System(apps, load.draws(len(apps), seed=rng), load, strategy, servers, first_day, watch)
    base_util = system.utilisation([])
    base_above = base_util >= limit
    crossing_days = system.first_crossing(base_above, np.full(len(apps), float(first_day)))
    steps = _roadmap(projects, day0, len(apps), rng)
    deadlines = _Deadlines(system, limit=limit, confidence=confidence, day0=day0, horizon=horizon_days,
                           first_day=first_day)
    return Plan(as_of=day0, limit=limit, confidence=confidence, horizon_days=horizon_days, strategy=strategy,
                servers=servers, crossing=crossing_of(crossing_days, day0, horizon_days),
                deadlines=_deadline_frame(deadlines.rows(steps, base_above)),
                utilisation=_daily_quantiles(base_util, day0, horizon_days, first_day),
                crossing_days=crossing_days, n_paths=len(apps),
                apps=_daily_quantiles(apps, day0, horizon_days, first_day), watch=watch)


def _check_watch(load: Any, servers: int, **options: Any) -> Watch:
    """The :class:`Watch` of :func:`plan`'s options, checked (named as plan's arguments)."""
    try:
        watch = Watch(metric=options["metric"], quantile=options["metric_quantile"], server=options["server"],
                      spare_servers=options["spare_servers"])
    except ArgumentError as exc:
        names = {"Watch: quantile": "plan: metric_quantile", "Watch: ": "plan: "}
        message = str(exc)
        for old, new in names.items():
            message = message.replace(old, new, 1)
        raise ArgumentError(message) from None
    if watch.spare_servers >= servers:
        raise ArgumentError(f"plan: spare_servers must be less than servers ({servers}), "
                            f"not {watch.spare_servers}")
    watch.factors(getattr(load, "profile", None))  # a metric that needs a profile the load lacks
    return watch


def _check_plan(growth: Any, load: Any, *, strategy: Any, servers: Any, limit: Any, projects: Any,
                confidence: Any, horizon_days: Any, n_paths: Any, seed: Any, as_of: Any) -> float:
    """Check :func:`plan`'s arguments; the utilisation limit (fraction) they give."""
    check_args("plan", growth=(growth, _GROWTH), load=(load, [_LOAD]))
    known = list(load.strategies)
    check_args("plan", strategy=(strategy, [Options(known)]), servers=(servers, [Interval(int, 1, None)]))
    try:
        check_args("plan", limit=(limit, [Interval(float, 0, 1, closed="right"), InstanceOf(LatencyLimit)]))
    except ArgumentError as exc:
        if Interval(float, 1, 100, closed="right").holds(limit):  # a percentage where a fraction belongs
            raise ArgumentError(f"{exc} ({limit:g}% is {limit / 100:g})") from None
        raise
    check_args("plan", projects=(projects, [InstanceOf(list, tuple)]),
               # a confidence under 0.5 would date the deadlines after the median crossing
               confidence=(confidence, [Interval(float, 0.5, 1, closed="left")]),
               horizon_days=(horizon_days, [_HORIZON]), n_paths=(n_paths, [_N_PATHS]),
               seed=(seed, [_SEED]), as_of=(as_of, [DateLike(), None]))
    for i, project in enumerate(projects):
        check_args("plan", **{f"projects[{i}]": (project, [InstanceOf(Project)])})
        if isinstance(project.effect, SwitchStrategy):
            check_args("plan", **{f"projects[{i}].effect.strategy": (project.effect.strategy,
                                                                     [Options(known)])})
    if isinstance(limit, LatencyLimit):
        return limit.utilisation(load.cores_per_server)
    return float(limit)


# ------------------------------------------------------------------------------------- the roadmap


@dataclass(frozen=True)
class _Step:
    """One project on the roadmap, with its lead times and landing days drawn per path."""

    project: Project
    lead: np.ndarray  # lead time of a start from scratch [days], for must-start-by
    land: np.ndarray | None  # landing day per path; None: unscheduled
    planned: pd.Timestamp | None  # planned (or median expected) landing date


def _roadmap(projects: Sequence[Project], day0: pd.Timestamp, n: int,
             rng: np.random.Generator) -> list[_Step]:
    """The projects in roadmap order: by planned landing, unscheduled last, ties in the order given."""
    steps = [_step(project, day0, n, rng) for project in projects]  # draws in the order given

    def key(i: int) -> tuple[pd.Timestamp, int]:
        planned = steps[i].planned
        return (planned if planned is not None else pd.Timestamp.max, i)

    return [steps[i] for i in sorted(range(len(steps)), key=key)]


def _step(project: Project, day0: pd.Timestamp, n: int, rng: np.random.Generator) -> _Step:
    """Draw a project's lead times and, when it is scheduled, its landing day on every path."""
    lead_time: LeadTime = project.lead_time  # a Project always holds a LeadTime
    lead = lead_time.sample(n, rng)
    if project.landed is None and project.land is not None and project.land <= day0:
        # overdue: its planned date passed unreported. It may slip by as much as its estimate was
        # uncertain: tomorrow plus a draw of (lead time - optimistic)
        land = 1.0 + np.ceil(lead_time.sample(n, rng) - lead_time.optimistic)
        return _Step(project, lead, land, project.land)
    fixed = project.landed if project.landed is not None else project.land
    if fixed is not None:
        return _Step(project, lead, np.full(n, max(float((fixed - day0).days), 1.0)), fixed)
    if project.start is not None:
        # a started project not reported landed: its lead time is conditioned on the days spent
        elapsed = max(float((day0 - project.start).days), 0.0)
        remaining = lead_time.sample(n, rng, elapsed=elapsed)
        land = np.maximum(np.ceil((project.start - day0).days + remaining), 1.0)
        return _Step(project, lead, land, day0 + pd.Timedelta(days=float(np.median(land))))
    return _Step(project, lead, None, None)


def _done_status(project: Project, day0: pd.Timestamp, strategy: str) -> str | None:
    """"landed" or "in effect" when the project needs no deadline; else None."""
    if project.landed is not None and project.landed <= day0:
        return "landed"
    if isinstance(project.effect, SwitchStrategy) and project.effect.strategy == strategy:
        return "in effect"  # the data already show the strategy it switches to
    return None


def _scheduled_status(project: Project, day0: pd.Timestamp) -> str:
    if project.landed is None and project.land is not None and project.land <= day0:
        return "overdue"
    if project.start is not None and project.start <= day0:
        return "in progress"
    return "planned"


@dataclass(frozen=True)
class _Deadlines:
    """Walks the roadmap: each project's deadlines against the system with the projects before it."""

    system: _System
    limit: float
    confidence: float
    day0: pd.Timestamp
    horizon: int
    first_day: int

    def rows(self, steps: Sequence[_Step], above: np.ndarray) -> list[dict[str, Any]]:
        """One row of :attr:`Plan.DEADLINE_COLUMNS` per step.

        ``above[i, j]``: the roadmap so far (no project yet) is at or over the limit on path i, day j.
        """
        rows, landed = [], []
        for step in steps:
            row: dict[str, Any] = {"project": step.project.name, "effect": step.project.effect.describe(),
                                   "planned_landing": step.planned}
            rows.append(row)
            done = _done_status(step.project, self.day0, self.system.strategy)
            if done:
                row.update(status=done, must_land_by=None, must_start_by=None, p_late=None, at_risk=False,
                           **_NO_RUNWAY)
                continue
            land = self._deadlines(row, step, above)
            if land is None:
                row.update(_NO_RUNWAY)
                continue
            landed = [*landed, (step.project.effect, land)]
            above = self.system.utilisation(landed) >= self.limit  # the next project's "before" too
            after = self.system.first_crossing(above, np.maximum(land, 1.0))
            runway = crossing_of(after, self.day0, self.horizon)
            row.update(runway_p10=runway.p10, runway_p50=runway.p50, runway_p90=runway.p90,
                       runway_p_none=runway.p_none)
        return rows

    def _deadlines(self, row: dict[str, Any], step: _Step, above: np.ndarray) -> np.ndarray | None:
        """Fill the row's deadlines and status; the landing days to assume, None if it is not needed."""
        before = self.system.first_crossing(above, np.full(self.system.n_paths, float(self.first_day)))
        q = 1 - self.confidence
        must_land = quantile_days(before, q)
        row["must_land_by"] = day_to_date(self.day0, must_land, self.horizon)
        row["must_start_by"] = day_to_date(self.day0, quantile_days(before - step.lead, q), self.horizon)
        if step.land is not None:
            p_late = float(np.mean(step.land > before))
            row.update(status=_scheduled_status(step.project, self.day0), p_late=p_late,
                       at_risk=bool(p_late > q))
            return step.land
        row.update(status="unscheduled", p_late=None,
                   at_risk=bool(row["must_start_by"] is not None and row["must_start_by"] < self.day0))
        if not math.isfinite(must_land) or must_land > self.horizon:
            return None  # never needed within the horizon: it buys nothing we can measure
        return np.full(self.system.n_paths, max(must_land, 1.0))  # assume it lands just in time


# ------------------------------------------------------------------------------------- assembling


def _deadline_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The deadline rows as a typed frame (NaT and NaN where a date or number does not apply)."""
    deadlines = pd.DataFrame(rows, columns=list(Plan.DEADLINE_COLUMNS))
    deadlines["at_risk"] = deadlines["at_risk"].astype(bool)
    deadlines["p_late"] = deadlines["p_late"].astype(float)
    deadlines["runway_p_none"] = deadlines["runway_p_none"].astype(float)
    for column in ("planned_landing", "must_land_by", "must_start_by",
                   "runway_p10", "runway_p50", "runway_p90"):
        # NaT here means "none within the horizon" (or "not applicable" for a landed project)
        deadlines[column] = pd.to_datetime(deadlines[column]).astype("datetime64[ns]")
    return deadlines


def _daily_quantiles(values: np.ndarray, day0: pd.Timestamp, horizon: int, first_day: int) -> pd.DataFrame:
    """P10, P50 and P90 over the paths of each day 1..horizon (``values``: columns from ``first_day``)."""
    future = slice(1 - first_day, None)
    dates = pd.date_range(day0 + pd.Timedelta(days=1), periods=horizon, freq="D", name="date")
    names = [f"p{round(q * 100)}" for q in QUANTILES]
    return pd.DataFrame(np.quantile(values[:, future], QUANTILES, axis=0).T, index=dates, columns=names)


def _aligned_apps(
    owner: str, growth: Any, as_of: Any, horizon_days: int, n_paths: int, seed: int
) -> tuple[pd.Timestamp, np.ndarray, int]:
    """Day 0 and the app counts on days ``first_day..horizon`` after it, one row per path.

    A fitted growth model also gives day 0 (its last count, or its own forecast of day 0 when the
    data end before ``as_of``), so a limit already reached today shows as a crossing on day 0
    (``first_day`` 0). A frame of paths starts on day 1.
    """
    if isinstance(growth, pd.DataFrame):
        return _frame_apps(owner, growth, as_of, horizon_days)
    last = pd.Timestamp(growth.last_date).normalize()
    day0 = pd.Timestamp(as_of).normalize() if as_of is not None else last
    lag = (day0 - last).days
    if lag < 0:
        raise ArgumentError(f"{owner}: as_of {day0.date()} is before the growth fit's last day "
                            f"{last.date()}: fit the growth on the data known on as_of")
    paths = growth.paths(horizon_days + lag, n=n_paths, seed=seed).to_numpy(float)
    today = paths[:, lag - 1:lag] if lag else np.full((len(paths), 1), float(growth.last_value))
    return day0, np.concatenate([today, paths[:, lag:]], axis=1), 0


def _frame_apps(owner: str, paths: pd.DataFrame, as_of: Any,
                horizon_days: int) -> tuple[pd.Timestamp, np.ndarray, int]:
    """:func:`_aligned_apps` for a frame of paths (rows = paths, columns = consecutive days)."""
    if not isinstance(paths.columns, pd.DatetimeIndex) or len(paths) == 0:
        raise ArgumentError(f"{owner}: growth must be a frame of paths with daily dates as columns and "
                            f"one row per path, not a frame of shape {paths.shape}")
    first = paths.columns[0]
    day0 = pd.Timestamp(as_of).normalize() if as_of is not None else first - pd.Timedelta(days=1)
    skip = (day0 + pd.Timedelta(days=1) - first).days
    if skip < 0:
        raise ArgumentError(f"{owner}: growth paths start on {first.date()}; the plan as of "
                            f"{day0.date()} needs them from {(day0 + pd.Timedelta(days=1)).date()}")
    values = paths.to_numpy(float)[:, skip:skip + horizon_days]
    if values.shape[1] < horizon_days:
        raise ArgumentError(f"{owner}: growth paths cover {values.shape[1]} days after {day0.date()}; the "
                            f"horizon is {horizon_days} days")
    return day0, values, 1


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
        The count that must not be reached [same unit as the series], finite.
    horizon_days, n_paths, seed
        As in :func:`plan`.

    Returns
    -------
    Crossing
        Day 0 is the fit's last day (a count already at the threshold crosses on day 0), or the
        day before the first path day for a frame of paths.
    """
    check_args("threshold_crossing", growth=(growth, _GROWTH),
               threshold=(threshold, [Interval(float, None, None)]), horizon_days=(horizon_days, [_HORIZON]),
               n_paths=(n_paths, [_N_PATHS]), seed=(seed, [_SEED]))
    day0, values, first_day = _aligned_apps("threshold_crossing", growth, None, horizon_days, n_paths, seed)
    numbers = np.arange(first_day, first_day + values.shape[1], dtype=float)
    days = _first_crossing(values >= threshold, numbers, np.full(len(values), float(first_day)))
    return crossing_of(days, day0, horizon_days)
