"""What a plan says: crossing dates, the Plan object, and the drift between two plans.

Holds :class:`Crossing` (quantiles of a crossing date), :class:`Plan` (the result of
:func:`capacity.planning.plan`) and :func:`drift`, plus the day arithmetic both the Monte Carlo and
the results use: :func:`quantile_days`, :func:`day_to_date` and :func:`crossing_of` (internal to
:mod:`capacity.planning`, not re-exported). Day 0 is the plan's ``as_of``; a day beyond the horizon
is stated as ``None``, never as infinity or NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from capacity.planning.limits import Watch
from capacity.planning.projects import DONE
from capacity.validation import InstanceOf, check_args

if TYPE_CHECKING:
    import altair as alt

__all__ = ["QUANTILES", "Crossing", "Plan", "drift", "crossing_of", "day_to_date", "quantile_days"]

#: the quantiles a plan reports (P10, P50, P90)
QUANTILES = (0.1, 0.5, 0.9)


def quantile_days(days: np.ndarray, q: float) -> float:
    """Lower empirical quantile ``q`` of day offsets [days] (inf, "never", allowed)."""
    finite_sorted = np.sort(days)
    k = max(int(np.ceil(q * len(days))) - 1, 0)
    return float(finite_sorted[k])


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
    """The result of :func:`capacity.planning.plan` (do not build by hand).

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
    watch : Watch
        Which utilisation the limit applies to (metric of the day, server, spare servers).
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
    watch: Watch = field(default_factory=Watch, repr=False)

    DEADLINE_COLUMNS = ("project", "effect", "status", "planned_landing", "must_land_by", "must_start_by",
                        "p_late", "at_risk", "runway_p10", "runway_p50", "runway_p90", "runway_p_none")

    def __repr__(self) -> str:
        risky = int(self.deadlines["at_risk"].sum()) if len(self.deadlines) else 0
        watched = "" if self.watch == Watch() else f" of {self.watch.describe()}"
        return (f"Plan(as_of={self.as_of.date()}, limit={self.limit:.0%}{watched}, crossing "
                f"{self.crossing.describe()}, projects={len(self.deadlines)}, at_risk={risky})")

    @property
    def headline(self) -> str:
        """One sentence a planner reads first."""
        c = self.crossing
        what = f"Messaging CPU ({self.watch.describe()})"
        if c.p_now >= 0.5:
            text = (f"{what} is at or above {self.limit:.0%} already on {self.as_of.date()} "
                    f"({c.p_now:.0%} likely)")
        elif c.p10 is None:
            text = (f"{what} stays under {self.limit:.0%} until at least {c.horizon_end.date()} "
                    f"({1 - c.p_none:.0%} chance of crossing by then)")
        else:
            text = f"{what} crosses {self.limit:.0%} {c.describe()}"
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
        from capacity.planning.charts import plan_chart

        return plan_chart(self)


def day_to_date(day0: pd.Timestamp, day: float, horizon: int) -> pd.Timestamp | None:
    """Day offset -> date; None beyond the horizon (stated as such, never inf or NaN)."""
    if not math.isfinite(day) or day > horizon:
        return None
    return day0 + pd.Timedelta(days=math.floor(day))  # floor: a start 0.5 days ago was yesterday


def crossing_of(days: np.ndarray, day0: pd.Timestamp, horizon: int) -> Crossing:
    """The :class:`Crossing` of per-path crossing days [days after ``day0``; inf: none within ``horizon``]."""
    q = {f"p{round(x * 100)}": day_to_date(day0, quantile_days(days, x), horizon) for x in QUANTILES}
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
    check_args("drift", before=(before, [InstanceOf(Plan)]), after=(after, [InstanceOf(Plan)]))
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
