"""What the daily mean hides: the load's intraday profile and how it splits across servers.

The cost model of :mod:`capacity.load.messaging` describes the tier's busy cores averaged over the
day and over its servers. What fails is the busy part of the day on the hottest server. This module
learns both from the hourly readings:

- the **intraday profile** ``p(h)``, h = 0..23 (UTC), of the load *above background*: the hour's busy
  cores are ``u0 + (busy - u0) * p(h)`` with ``mean(p) = 1``. Background work (``u0``) does not follow
  the traffic, so the swing grows with the load and a counterfactual strategy (less load) swings
  less in absolute terms;
- the **server shares** ``s_j``: server j carries ``s_j`` times the average server's load
  (``mean(s) = 1``), from the servers in service at the end of the samples.

A planning metric is then a factor on the load above background: 1 for the daily mean, ``max p``
for the busiest hour, a quantile of the 24 values of ``p`` for ``"quantile"``; the hottest server
multiplies the whole by ``max s``. Both are point estimates from many days of readings (their
sampling error, well under 1 % with a few weeks of hourly data, is not propagated into the plan).

Only whole days count: every hour of every server present, no reading censored (a reading pinned at
the cap would understate its hour), within the last :data:`PROFILE_DAYS` days of the samples taken
with the final server count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from capacity.errors import ArgumentError, InputDataError
from capacity.validation import InstanceOf, Interval, Options, check_args

if TYPE_CHECKING:
    import altair as alt

__all__ = ["LoadProfile", "fit_profile", "METRICS", "SERVERS", "PROFILE_DAYS", "MIN_PROFILE_DAYS"]

#: what must stay under the limit (``limit.metric``)
METRICS = ("daily_mean", "busiest_hour", "quantile")
#: which server (``limit.server``)
SERVERS = ("average", "hottest")
#: the profile is learned from at most this many of the latest days [days]
PROFILE_DAYS = 91
#: fewer whole days than this and there is no profile [days]
MIN_PROFILE_DAYS = 7
HOURS = 24
_COLUMNS = ("timestamp", "server", "cpu_percent", "servers")


@dataclass(frozen=True, eq=False)
class LoadProfile:
    """The intraday profile and the server shares learned by :func:`fit_profile`.

    Attributes (fitted)
    -------------------
    hourly : Series
        ``p(h)`` for the UTC hours 0..23 (index ``hour``): the load above background in that hour
        relative to the day's mean (mean 1) [dimensionless].
    shares : Series
        Each server's load relative to the average server (index: server name, mean 1)
        [dimensionless].
    days : int
        Whole days the profile was learned from.
    first, last : Timestamp
        The first and last of those days.
    """

    hourly: pd.Series
    shares: pd.Series
    days: int
    first: pd.Timestamp
    last: pd.Timestamp

    def __repr__(self) -> str:
        return (f"LoadProfile(busiest_hour={self.factor('busiest_hour'):.3f} at {self.peak_hour:02d}:00 UTC, "
                f"hottest={self.hottest} x{self.share('hottest'):.3f}, days={self.days})")

    @property
    def peak_hour(self) -> int:
        """The UTC hour of the busiest hour."""
        return int(self.hourly.idxmax())

    @property
    def hottest(self) -> str:
        """The name of the server with the largest share."""
        return str(self.shares.idxmax())

    def factor(self, metric: str = "daily_mean", quantile: float | None = None) -> float:
        """The metric's factor on the load above background [dimensionless].

        Parameters
        ----------
        metric : {"daily_mean", "busiest_hour", "quantile"}
        quantile : float, optional
            With ``"quantile"`` (required then): the quantile of the 24 hourly values, in (0, 1).
        """
        check_args("LoadProfile.factor", metric=(metric, [Options(METRICS)]),
                   quantile=(quantile, [Interval(float, 0, 1, closed="neither"), None]))
        if metric == "daily_mean":
            return 1.0
        if metric == "busiest_hour":
            return float(self.hourly.max())
        if quantile is None:
            raise ArgumentError("LoadProfile.factor: metric 'quantile' needs quantile, a number in (0, 1)")
        return float(np.quantile(self.hourly.to_numpy(), quantile))

    def share(self, server: str = "average") -> float:
        """The server's load relative to the average server: 1, or the hottest server's share."""
        check_args("LoadProfile.share", server=(server, [Options(SERVERS)]))
        return 1.0 if server == "average" else float(self.shares.max())

    def summary_frame(self) -> pd.DataFrame:
        """One row per item: each hour's ``p(h)`` (kind ``hour``) and each server's share (``server``)."""
        hours = pd.DataFrame({"kind": "hour", "item": [f"{h:02d}:00" for h in self.hourly.index],
                              "value": self.hourly.to_numpy()})
        servers = pd.DataFrame({"kind": "server", "item": self.shares.index.astype(str),
                                "value": self.shares.to_numpy()})
        return pd.concat([hours, servers], ignore_index=True)

    def chart(self) -> alt.Chart:
        """The intraday profile as a line over the UTC hours, the busiest hour marked."""
        import altair as alt

        frame = pd.DataFrame({"hour": self.hourly.index.to_numpy(), "p": self.hourly.to_numpy(),
                              "busiest": self.hourly.index.to_numpy() == self.peak_hour})
        base = alt.Chart(frame).encode(
            x=alt.X("hour:Q", title="hour of day (UTC)", scale=alt.Scale(domain=[0, 23])),
            y=alt.Y("p:Q", title="load above background / daily mean", scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("hour:Q"), alt.Tooltip("p:Q", format=".3f")])
        line = base.mark_line(point=True)
        peak = base.transform_filter(alt.datum.busiest).mark_point(size=120, color="firebrick", filled=True)
        return (line + peak).properties(title=f"Intraday profile ({self.days} days to {self.last.date()})")


def fit_profile(samples: pd.DataFrame, *, u0: float, cores_per_server: float,
                censor_at: float | None = 100.0, days: int = PROFILE_DAYS) -> LoadProfile | str:
    """Learn the intraday profile and the server shares from hourly readings.

    Parameters
    ----------
    samples : DataFrame
        Columns ``timestamp``, ``server``, ``cpu_percent`` [% of one server] and ``servers``; more
        than one reading in an hour is averaged.
    u0 : float
        Background busy cores, which do not follow the traffic [cores], >= 0.
    cores_per_server : float
        Cores of one messaging server [cores], > 0.
    censor_at : float or None, default 100
        A reading at or above this [%] is pinned at the cap: its day is left out.
    days : int, default 91
        Learn from at most this many of the latest days [days], >= 7.

    Returns
    -------
    LoadProfile or str
        The profile, or why there is none (a sentence: readings once a day, too few whole days).
    """
    check_args("fit_profile", samples=(samples, [InstanceOf(pd.DataFrame)]),
               u0=(u0, [Interval(float, 0, None)]),
               cores_per_server=(cores_per_server, [Interval(float, 0, None, closed="neither")]),
               censor_at=(censor_at, [Interval(float, 0, None, closed="neither"), None]),
               days=(days, [Interval(int, MIN_PROFILE_DAYS, None)]))
    missing = [c for c in _COLUMNS if c not in samples.columns]
    if missing:
        raise InputDataError(f"fit_profile: samples lack the column(s) {', '.join(missing)}")
    hourly = _hourly(samples, censor_at, days)
    if isinstance(hourly, str):
        return hourly
    cube, day_index, servers = hourly
    tier = cube.mean(axis=2) * servers.size * cores_per_server / 100  # busy cores, (day, hour)
    above = np.maximum(tier - u0, 0.0)
    if not above.sum() > 0:
        return "the readings never rise above the background load u0"
    profile = above.sum(axis=0) / above.sum() * HOURS
    shares = cube.sum(axis=(0, 1)) / cube.mean(axis=2).sum()
    return LoadProfile(hourly=pd.Series(profile, index=pd.RangeIndex(HOURS, name="hour"), name="p"),
                       shares=pd.Series(shares, index=pd.Index(servers, name="server"), name="share"),
                       days=len(day_index), first=day_index[0], last=day_index[-1])


def _hourly(samples: pd.DataFrame, censor_at: float | None,
            days: int) -> tuple[np.ndarray, pd.DatetimeIndex, np.ndarray] | str:
    """Readings as a (day, hour, server) cube of whole usable days, or why there are none."""
    if not len(samples):
        return "there are no messaging samples"
    stamps = pd.to_datetime(samples["timestamp"], utc=True).dt.tz_localize(None)
    frame = pd.DataFrame({"hour": stamps.dt.floor("h"), "server": samples["server"].astype(str),
                          "cpu": pd.to_numeric(samples["cpu_percent"], errors="coerce"),
                          "servers": samples["servers"].to_numpy()}).sort_values("hour", kind="stable")
    # the tier as it is now: the last stretch with the final server count, and the servers of its last day
    changed = frame["servers"].ne(frame["servers"].iloc[-1]).to_numpy()
    frame = frame.iloc[int(np.flatnonzero(changed)[-1]) + 1 if changed.any() else 0:]
    last_day = frame["hour"].dt.floor("D") == frame["hour"].iloc[-1].floor("D")
    frame = frame[frame["server"].isin(set(frame.loc[last_day, "server"]))]
    per_day = frame.groupby(frame["hour"].dt.floor("D"))["hour"].nunique()
    if per_day.max() < HOURS / 2:
        return "the messaging samples have fewer than 12 readings a day, so there is no intraday profile"
    cells = frame.groupby(["hour", "server"])["cpu"].agg(["mean", "max"])
    bad = cells["max"] >= censor_at if censor_at is not None else pd.Series(False, index=cells.index)
    table = cells["mean"].unstack("server")
    pinned = bad.groupby(level="hour").any().reindex(table.index, fill_value=False)
    table[pinned.to_numpy()] = np.nan
    table = table.reindex(pd.date_range(table.index[0].floor("D"), table.index[-1].floor("D")
                                        + pd.Timedelta(hours=HOURS - 1), freq="h"))
    cube = table.to_numpy(dtype=float).reshape(-1, HOURS, table.shape[1])
    day_index = pd.DatetimeIndex(table.index[::HOURS])
    whole = np.isfinite(cube).all(axis=(1, 2))
    keep = np.flatnonzero(whole)[-days:]
    if len(keep) < MIN_PROFILE_DAYS:
        return (f"only {len(keep)} whole days of hourly readings without a pinned reading (at least "
                f"{MIN_PROFILE_DAYS} are needed for an intraday profile)")
    return cube[keep], day_index[keep], table.columns.to_numpy()
