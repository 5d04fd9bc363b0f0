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

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from capacity.errors import CapacityError
from capacity.planning.limits import LatencyLimit
from capacity.planning.projects import AddServers, Effect, Project, ScaleCost, SwitchStrategy
from capacity.planning.result import QUANTILES, Crossing, Plan, crossing_of, day_to_date, quantile_days

if TYPE_CHECKING:
    pass

__all__ = ["plan", "threshold_crossing"]


def _first_crossing(above: np.ndarray, days: np.ndarray, start: np.ndarray) -> np.ndarray:
    """First day >= start[i] on which above[i] holds (days: the day number of each column); inf if none."""
    hit = above & (days[None, :] >= start[:, None])
    return np.where(hit.any(axis=1), days[np.argmax(hit, axis=1)], np.inf)



class _System:
    """Utilisation of the messaging tier on every path and day, for any set of landed projects."""

    def __init__(self, apps: np.ndarray, params: pd.DataFrame, load: Any, strategy: str, servers: int,
                 first_day: int):
        from capacity.load.messaging import busy_cores

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
    crossing = crossing_of(crossing_days, day0, horizon)

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
        must_land = quantile_days(before, 1 - confidence)
        must_start = quantile_days(before - lead, 1 - confidence)
        row["must_land_by"] = day_to_date(day0, must_land, horizon)
        row["must_start_by"] = day_to_date(day0, must_start, horizon)
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
        runway = crossing_of(after, day0, horizon)
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
    return crossing_of(days, day0, horizon_days)
