"""Load and validate the two inputs: live app counts and messaging CPU samples.

Everything that comes from outside passes through here once, so the models can trust their input
(:mod:`capacity.growth`, :mod:`capacity.load`). A bad file never yields a half-parsed frame: it raises
:class:`~capacity.errors.InputDataError` whose one-line message names the file, the column and the first
bad row. A bad argument (a wrong type, an empty frame) raises :class:`~capacity.errors.ArgumentError`
from :mod:`capacity.validation` instead. This module imports nothing of ours but those two.

Time rule
---------
All timestamps are returned **tz-naive, meaning UTC**. Timestamps with an offset or a ``Z`` are
converted to UTC and the zone is dropped; timestamps without one are taken to be UTC already. A
column that mixes the two is rejected, because its meaning is ambiguous.

Row numbers
-----------
"row N" counts data rows from 1 in file order, the header not included (so in a CSV file row N is
on line N + 1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import InputDataError
from capacity.validation import (
    PATH,
    Boolean,
    InstanceOf,
    Interval,
    Options,
    Text,
    check_args,
    check_mapping,
)

__all__ = [
    "MIN_POINTS",
    "read_table",
    "parse_times",
    "load_apps",
    "load_messaging",
    "load_changes",
    "attach_apps",
    "daily_percentiles",
    "daily_tier_cpu",
    "apps_from_changes",
]

#: the fewest app-count observations a growth fit can work with
MIN_POINTS = 10

MESSAGING_COLUMNS = ("timestamp", "server", "cpu_percent", "strategy", "servers")

_COUNT = Interval(int, 1, None)


def _check_not_empty(owner: str, **values: Any) -> None:
    """Refuse an empty frame or series by name, before pandas fails on it with a less helpful error."""
    check_args(owner, **{f"len({name})": (len(value), [_COUNT]) for name, value in values.items()})


def _check_frame_columns(frame: pd.DataFrame, columns: Sequence[str], owner: str, name: str) -> None:
    """A frame argument must have the columns the function reads (InputDataError, like a file's)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(repr(c) for c in frame.columns)
        raise InputDataError(f"{owner}: column {missing[0]!r} is missing from {name} "
                             f"(columns found: {found})")


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV or Parquet file as strings-and-numbers, with no interpretation yet.

    Parameters
    ----------
    path : str or Path
        ``.csv`` (optionally ``.csv.gz``) or ``.parquet`` / ``.pq``.

    Returns
    -------
    DataFrame
        The raw table; CSV columns are read as text so that parsing errors can be reported by row.
    """
    check_args("read_table", path=(path, PATH))
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise InputDataError(f"{path}: file is empty (expected a header and at least one row)")
    suffixes = "".join(path.suffixes[-2:]).lower()
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffixes.endswith((".csv", ".csv.gz", ".txt")):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        else:
            raise InputDataError(f"{path}: unsupported file type {path.suffix!r} (use .csv or .parquet)")
    except InputDataError:
        raise
    except pd.errors.EmptyDataError:
        raise InputDataError(f"{path}: file is empty (expected a header and at least one row)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputDataError(f"{path}: cannot be read as a table ({first})") from None
    if len(frame) == 0:
        raise InputDataError(f"{path}: has a header but no data rows")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], path: Path, what: str) -> None:
    for column in columns:
        if column not in frame.columns:
            found = ", ".join(repr(c) for c in frame.columns)
            raise InputDataError(
                f"{path}: column {column!r} is missing from the {what} (columns found: {found})"
            )


def _bad(path: Path | None, column: str, position: int, problem: str) -> InputDataError:
    where = f"{path}, " if path is not None else ""  # None: the caller names the source itself
    return InputDataError(f"{where}column {column!r}, row {position + 1}: {problem}")


def _blank(values: pd.Series) -> np.ndarray:
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype("string").str.strip()
        return (values.isna() | text.isin(["", "nan", "NaN", "NA", "null", "None"])).to_numpy(bool)
    return values.isna().to_numpy(bool)


def _check_missing(values: pd.Series, path: Path | None, column: str) -> None:
    missing = _blank(values)
    if missing.any():
        raise _bad(path, column, int(np.argmax(missing)), "missing value")


def parse_times(values: pd.Series, path: Path | None, column: str) -> pd.Series:
    """Parse timestamps strictly (ISO 8601) to tz-naive UTC; an error names the first bad row.

    ``path`` names the source in error messages (None: the caller prefixes its own).
    """
    check_args("parse_times", values=(values, [InstanceOf(pd.Series)]), path=(path, [*PATH, None]),
               column=(column, [Text()]))
    _check_missing(values, path, column)
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        text = values.astype(str).str.strip()
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        failed = parsed.isna().to_numpy()
        if failed.any():
            i = int(np.argmax(failed))
            raise _bad(path, column, i, f"cannot parse {text.iloc[i]!r} as a date/time (use ISO 8601)")
        has_zone = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).to_numpy()
        if has_zone.any() and not has_zone.all():
            i = int(np.argmax(has_zone != has_zone[0]))
            raise _bad(path, column, i,
                       f"mixed timezones: {text.iloc[i]!r} "
                       f"{'has' if has_zone[i] else 'lacks'} a UTC offset but row 1 "
                       f"{'does' if has_zone[0] else 'does not'}")
        return parsed.dt.tz_localize(None).astype("datetime64[ns]")
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.astype("datetime64[ns]")


def _parse_numbers(values: pd.Series, path: Path, column: str) -> pd.Series:
    _check_missing(values, path, column)
    numbers = pd.to_numeric(values, errors="coerce")
    failed = numbers.isna().to_numpy() | ~np.isfinite(numbers.to_numpy(float))
    if failed.any():
        i = int(np.argmax(failed))
        raise _bad(path, column, i, f"{values.iloc[i]!r} is not a number")
    return numbers.astype(float)


def _sorted_unique(frame: pd.DataFrame, keys: list[str], path: Path, column: str) -> pd.DataFrame:
    """Sort by ``keys`` (input order may be anything); a repeated key is an error naming both rows."""
    frame = frame.assign(_row=np.arange(len(frame)))
    frame = frame.sort_values([*keys, "_row"], kind="stable")
    repeated = frame.duplicated(keys, keep="first").to_numpy()
    if repeated.any():
        dup = frame.iloc[int(np.argmax(repeated))]
        first = frame.loc[(frame[keys] == dup[keys]).all(axis=1), "_row"].min()
        what = " / ".join(str(dup[k]) for k in keys)
        raise _bad(path, column, int(dup["_row"]),
                   f"duplicate {what} (already given in row {int(first) + 1})")
    return frame.drop(columns="_row")


def _check_counts(values: pd.Series, path: Path, column: str) -> pd.Series:
    numbers = _parse_numbers(values, path, column)
    negative = (numbers < 0).to_numpy()
    if negative.any():
        i = int(np.argmax(negative))
        raise _bad(path, column, i, f"negative count {values.iloc[i]!r}")
    fractional = (numbers != np.round(numbers)).to_numpy()
    if fractional.any():
        i = int(np.argmax(fractional))
        raise _bad(path, column, i, f"{values.iloc[i]!r} is not a whole number of apps")
    return numbers.astype("int64")


def load_apps(
    path: str | os.PathLike[str],
    *,
    date_col: str = "date",
    apps_col: str = "apps",
    new_apps_col: str | None = None,
    min_points: int = MIN_POINTS,
) -> pd.DataFrame:
    """Load a series of live app counts.

    Parameters
    ----------
    path : str or PathLike
        CSV or Parquet file with one row per date.
    date_col : str, default "date"
        Column holding the date (ISO 8601; a time of day is allowed and dropped: the count is the
        number of live apps at the end of that UTC day).
    apps_col : str, default "apps"
        Column holding the number of live apps (net of deletions) [apps].
    new_apps_col : str, optional
        Column holding the apps created that day [apps/day]. When omitted, a column named
        ``new_apps`` is used if the file has one.
    min_points : int, default :data:`MIN_POINTS`
        Fewest observations accepted (>= 1); a shorter series cannot be fitted.

    Returns
    -------
    DataFrame
        Index ``date`` (DatetimeIndex, tz-naive UTC days, sorted, unique), column ``apps`` (int64)
        and ``new_apps`` (int64) when present. Gaps in the dates are kept as gaps.

    Raises
    ------
    ArgumentError
        An argument of the wrong type or out of range.
    InputDataError
        Naming the file, column and first bad row.
    """
    check_args("load_apps", path=(path, PATH), date_col=(date_col, [Text()]), apps_col=(apps_col, [Text()]),
               new_apps_col=(new_apps_col, [Text(), None]), min_points=(min_points, [_COUNT]))
    path = Path(path)
    raw = read_table(path)
    if new_apps_col is None and "new_apps" in raw.columns:
        new_apps_col = "new_apps"
    wanted = [date_col, apps_col] + ([new_apps_col] if new_apps_col else [])
    _require_columns(raw, wanted, path, "app counts")

    dates = parse_times(raw[date_col], path, date_col).dt.normalize()
    frame = pd.DataFrame({"date": dates, "apps": _check_counts(raw[apps_col], path, apps_col)})
    if new_apps_col:
        frame["new_apps"] = _check_counts(raw[new_apps_col], path, new_apps_col)
    frame = _sorted_unique(frame, ["date"], path, date_col)
    if len(frame) < min_points:
        raise InputDataError(
            f"{path}, column {apps_col!r}: {len(frame)} observations are too few to fit growth; "
            f"at least {min_points} are needed"
        )
    return frame.set_index("date")


def load_changes(
    path: str | os.PathLike[str],
    *,
    date_col: str = "date",
    added_col: str = "added",
    removed_col: str | None = "removed",
) -> pd.DataFrame:
    """Load a change log: items added (and removed) per day, on the days something changed.

    Parameters
    ----------
    path : str or PathLike
        CSV or Parquet file.
    date_col, added_col, removed_col : str
        Column names; ``removed_col=None`` when the log has no removals.

    Returns
    -------
    DataFrame
        Index ``date`` (tz-naive UTC days, sorted, unique), int64 columns ``added`` and ``removed``
        [items/day]. Feed it to :func:`apps_from_changes` for a series of live counts.

    Raises
    ------
    ArgumentError
        An argument of the wrong type.
    InputDataError
        Naming the file, column and first bad row.
    """
    check_args("load_changes", path=(path, PATH), date_col=(date_col, [Text()]),
               added_col=(added_col, [Text()]), removed_col=(removed_col, [Text(), None]))
    path = Path(path)
    raw = read_table(path)
    _require_columns(raw, [date_col, added_col] + ([removed_col] if removed_col else []),
                     path, "change log")
    frame = pd.DataFrame({"date": parse_times(raw[date_col], path, date_col).dt.normalize()})
    frame["added"] = _check_counts(raw[added_col], path, added_col)
    frame["removed"] = _check_counts(raw[removed_col], path, removed_col) if removed_col else 0
    return _sorted_unique(frame, ["date"], path, date_col).set_index("date")


_DEFAULTS = {"server": Text(), "strategy": Text(), "servers": _COUNT}  # load_messaging's defaults, by key


def load_messaging(
    path: str | os.PathLike[str],
    *,
    timestamp_col: str = "timestamp",
    server_col: str = "server",
    cpu_col: str = "cpu_percent",
    strategy_col: str = "strategy",
    servers_col: str = "servers",
    defaults: Mapping[str, Any] | None = None,
    cpu_scale: str = "percent",
    min_points: int = MIN_POINTS,
) -> pd.DataFrame:
    """Load messaging CPU samples with the fan-out strategy and server count in force.

    Each row is one reading of one messaging server. The strategy and server count in force at the
    time travel with each row, so a change of either is simply a change of value between rows.

    Parameters
    ----------
    path : str or PathLike
        CSV or Parquet file.
    timestamp_col, server_col, cpu_col, strategy_col, servers_col : str
        Names of the columns holding the sample time, the server name, its CPU utilisation [%],
        the fan-out strategy name and the number of messaging servers in service.
    defaults : mapping, optional
        Constant values for columns the file lacks, keyed by the canonical names ``server`` (str),
        ``strategy`` (str) and ``servers`` (int >= 1), e.g. ``{"server": "db-1", "strategy":
        "broadcast", "servers": 1}`` for a single-host CPU trace.
    cpu_scale : {"percent", "fraction"}, default "percent"
        Unit of the CPU column. Fractions (0..1) are converted to percent.
    min_points : int, default :data:`MIN_POINTS`
        Fewest samples accepted (>= 1).

    Returns
    -------
    DataFrame
        Columns ``timestamp`` (datetime64, tz-naive UTC), ``server`` (str), ``cpu_percent``
        (float, 0..100) [%], ``strategy`` (str), ``servers`` (int64); sorted by timestamp, server.

    Raises
    ------
    ArgumentError
        An argument of the wrong type or out of range.
    InputDataError
        Naming the file, column and first bad row; CPU that looks like a 0..1 fraction is named as
        such.
    """
    names = {"timestamp": timestamp_col, "server": server_col, "cpu_percent": cpu_col,
             "strategy": strategy_col, "servers": servers_col}
    _check_messaging_args(path, names, defaults, cpu_scale, min_points)
    path = Path(path)
    raw = read_table(path)
    defaults = dict(defaults or {})
    _require_columns(raw, [c for k, c in names.items() if k not in defaults or c in raw.columns],
                     path, "messaging samples")

    def column(key: str) -> pd.Series:
        if names[key] in raw.columns:
            return raw[names[key]]
        return pd.Series([defaults[key]] * len(raw), index=raw.index, dtype=object)

    frame = pd.DataFrame({"timestamp": parse_times(raw[timestamp_col], path, timestamp_col)})
    for key in ("server", "strategy"):
        values = column(key)
        _check_missing(values, path, names[key])
        frame[key] = values.astype(str).str.strip()
    frame["servers"] = _parse_servers(column("servers"), path, servers_col)
    frame["cpu_percent"] = _parse_cpu(raw[cpu_col], path, cpu_col, cpu_scale).to_numpy(float)

    frame = _sorted_unique(frame, ["timestamp", "server"], path, timestamp_col)
    if len(frame) < min_points:
        raise InputDataError(
            f"{path}, column {cpu_col!r}: {len(frame)} samples are too few; at least {min_points} are needed"
        )
    return frame.reset_index(drop=True)[list(MESSAGING_COLUMNS)]


def _check_messaging_args(path: Any, names: Mapping[str, Any], defaults: Any, cpu_scale: Any,
                          min_points: Any) -> None:
    owner = "load_messaging"
    check_args(owner, path=(path, PATH), **{f"{k}_col" if k != "cpu_percent" else "cpu_col": (v, [Text()])
                                            for k, v in names.items()})
    if defaults is not None:
        check_mapping(owner, "defaults", defaults, keys=_DEFAULTS)
        check_args(owner, **{f"defaults[{k!r}]": (v, [_DEFAULTS[k]]) for k, v in defaults.items()})
    check_args(owner, cpu_scale=(cpu_scale, [Options(["percent", "fraction"])]),
               min_points=(min_points, [_COUNT]))


def _parse_servers(values: pd.Series, path: Path, column: str) -> pd.Series:
    servers = _parse_numbers(values, path, column)
    bad = ((servers < 1) | (servers != np.round(servers))).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise _bad(path, column, i, f"{values.iloc[i]!r} is not a whole number >= 1")
    return servers.astype("int64")


def _parse_cpu(values: pd.Series, path: Path, column: str, cpu_scale: str) -> pd.Series:
    """CPU [%] in 0..100; fractions converted, and percent that looks like fractions refused."""
    cpu = _parse_numbers(values, path, column)
    if cpu_scale == "fraction":
        out = ((cpu < 0) | (cpu > 1)).to_numpy()
        if out.any():
            i = int(np.argmax(out))
            raise _bad(path, column, i, f"{values.iloc[i]!r} is outside 0..1 (cpu_scale='fraction')")
        return cpu * 100
    out = ((cpu < 0) | (cpu > 100)).to_numpy()
    if out.any():
        i = int(np.argmax(out))
        raise _bad(path, column, i, f"{values.iloc[i]!r} is outside 0..100 percent")
    # a long series that never exceeds 1% is almost certainly fractions mislabelled as percent
    if len(cpu) >= 20 and cpu.max() <= 1.0 and cpu.gt(0).any():
        raise _bad(path, column, int(np.argmax(cpu.to_numpy())),
                   "every value is between 0 and 1: these look like fractions, not percent "
                   "(pass cpu_scale='fraction' or multiply by 100)")
    return cpu


def attach_apps(samples: pd.DataFrame, apps: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Add the live app count at each sample's time.

    App counts are end-of-day values, so the count at a time inside a day is interpolated linearly
    between the previous day's end and this day's end.

    Parameters
    ----------
    samples : DataFrame
        Output of :func:`load_messaging` (needs a ``timestamp`` column); may be empty.
    apps : DataFrame or Series
        Output of :func:`load_apps`, or a non-empty Series of live counts [apps] on a DatetimeIndex.

    Returns
    -------
    DataFrame
        A copy of ``samples`` with a float column ``apps`` [apps]; samples outside the span covered
        by the app counts are dropped (a model must not extrapolate the app count silently).

    Raises
    ------
    ArgumentError
        ``samples`` not a DataFrame, ``apps`` not a DataFrame or Series, or ``apps`` empty.
    InputDataError
        A column is missing, or every app count is missing.
    """
    check_args("attach_apps", samples=(samples, [InstanceOf(pd.DataFrame)]),
               apps=(apps, [InstanceOf(pd.DataFrame, pd.Series)]))
    _check_not_empty("attach_apps", apps=apps)
    _check_frame_columns(samples, ["timestamp"], "attach_apps", "samples")
    if isinstance(apps, pd.DataFrame):
        _check_frame_columns(apps, ["apps"], "attach_apps", "apps")
    counts = apps["apps"] if isinstance(apps, pd.DataFrame) else apps
    counts = counts.dropna().sort_index()
    if counts.empty:
        raise InputDataError("attach_apps: the app-count series is empty")
    ends = (counts.index + pd.Timedelta(days=1)).to_numpy("datetime64[ns]").astype(np.int64)
    times = samples["timestamp"].to_numpy("datetime64[ns]").astype(np.int64)
    inside = (times >= ends[0]) & (times <= ends[-1]) if len(ends) > 1 else times == ends[0]
    first_day = counts.index[0]
    # the first day's count also stands for that day itself (no previous end-of-day value)
    inside |= (times >= first_day.value) & (times < ends[0])
    out = samples.loc[inside].copy()
    out["apps"] = np.interp(times[inside], ends, counts.to_numpy(float))
    return out


def _check_quantiles(owner: str, q: Any) -> None:
    check_args(owner, q=(q, [InstanceOf(list, tuple, np.ndarray)]))
    _check_not_empty(owner, q=q)
    check_args(owner, **{f"q[{i}]": (x, [Interval(float, 0, 1)]) for i, x in enumerate(q)})


def daily_percentiles(
    samples: pd.DataFrame,
    q: Sequence[float] = (0.5, 0.95, 1.0),
    *,
    by_server: bool = False,
    column: str = "cpu_percent",
) -> pd.DataFrame:
    """Summarise (hourly) samples into daily percentiles, keeping gaps as gaps.

    Parameters
    ----------
    samples : DataFrame
        At least one row, with ``timestamp`` and ``column``; ``server`` too when ``by_server``.
    q : sequence of float, default (0.5, 0.95, 1.0)
        Quantiles in 0..1 (a list, tuple or array); columns are named ``p50``, ``p95``, ``p100``.
    by_server : bool, default False
        One row per server and day instead of one per day across servers.
    column : str, default "cpu_percent"
        The column to summarise (e.g. CPU [%]; the percentiles keep its unit).

    Returns
    -------
    DataFrame
        Indexed by ``date`` (and ``server``) over every day from the first to the last sample; a
        day with no samples has ``count`` 0 and NaN percentiles rather than being dropped or filled.

    Raises
    ------
    ArgumentError
        An argument of the wrong type or out of range, or ``samples`` empty.
    InputDataError
        A column is missing from ``samples``.
    """
    check_args("daily_percentiles", samples=(samples, [InstanceOf(pd.DataFrame)]))
    _check_quantiles("daily_percentiles", q)
    check_args("daily_percentiles", by_server=(by_server, [Boolean()]), column=(column, [Text()]))
    _check_not_empty("daily_percentiles", samples=samples)
    _check_frame_columns(samples, ["timestamp", column] + (["server"] if by_server else []),
                         "daily_percentiles", "samples")
    day = samples["timestamp"].dt.floor("D").rename("date")
    keys = [day, samples["server"]] if by_server else [day]
    grouped = samples.groupby(keys)[column]
    table = grouped.quantile(list(q)).unstack()
    table.columns = [f"p{round(x * 100):g}" for x in q]
    table.insert(0, "count", grouped.size())
    days = pd.date_range(day.min(), day.max(), freq="D", name="date")
    if by_server:
        full = pd.MultiIndex.from_product([days, sorted(samples["server"].unique())],
                                          names=["date", "server"])
    else:
        full = days
    table = table.reindex(full)
    table["count"] = table["count"].fillna(0).astype("int64")
    return table


def daily_tier_cpu(samples: pd.DataFrame, *, servers: int | None = None) -> pd.Series:
    """Daily mean CPU of the average messaging server, comparable across changes in server count.

    Parameters
    ----------
    samples : DataFrame
        Output of :func:`load_messaging` (``timestamp``, ``cpu_percent`` [%], ``servers``).
    servers : int, optional
        Express every day as if this many servers (>= 1) shared the load (default: no rescaling,
        each day's own count).

    Returns
    -------
    Series
        ``cpu_percent`` [%] on a daily DatetimeIndex named ``date`` (days without samples are absent).
        Readings pinned at 100% make the mean an underestimate of the demand on those days.

    Raises
    ------
    ArgumentError
        An argument of the wrong type or out of range.
    InputDataError
        A column is missing from ``samples``.
    """
    check_args("daily_tier_cpu", samples=(samples, [InstanceOf(pd.DataFrame)]),
               servers=(servers, [_COUNT, None]))
    _check_frame_columns(samples, ["timestamp", "cpu_percent"] + (["servers"] if servers is not None else []),
                         "daily_tier_cpu", "samples")
    day = samples["timestamp"].dt.floor("D").rename("date")
    if servers is None:
        return samples["cpu_percent"].groupby(day).mean().rename("cpu_percent")
    tier = samples["cpu_percent"] * samples["servers"]  # percent of one server, summed over the tier
    return (tier.groupby(day).mean() / servers).rename("cpu_percent")


def apps_from_changes(
    changes: pd.DataFrame,
    *,
    added_col: str = "added",
    removed_col: str | None = "removed",
    start: int = 0,
) -> pd.Series:
    """Turn daily additions (and removals) into a daily series of live counts.

    Parameters
    ----------
    changes : DataFrame
        At least one row, indexed by date (DatetimeIndex), one row per day on which something changed.
    added_col, removed_col : str
        Columns with the items added and removed that day [items/day]; ``removed_col=None`` when
        there are no removals.
    start : int, default 0
        Live count before the first row [items] (>= 0).

    Returns
    -------
    Series
        ``apps`` on every day from the first to the last row (days with no change carry the count
        forward, which is exact for a change log).

    Raises
    ------
    ArgumentError
        An argument of the wrong type or out of range, or ``changes`` empty.
    InputDataError
        ``changes`` not indexed by date, a column missing, or the live count falling below zero.
    """
    check_args("apps_from_changes", changes=(changes, [InstanceOf(pd.DataFrame)]),
               added_col=(added_col, [Text()]), removed_col=(removed_col, [Text(), None]),
               start=(start, [Interval(int, 0, None)]))
    _check_not_empty("apps_from_changes", changes=changes)
    if not isinstance(changes.index, pd.DatetimeIndex):
        raise InputDataError("apps_from_changes: changes must be indexed by date (a DatetimeIndex)")
    _check_frame_columns(changes, [added_col] + ([removed_col] if removed_col is not None else []),
                         "apps_from_changes", "changes")
    net = changes[added_col].astype("int64")
    if removed_col is not None:
        net = net - changes[removed_col].astype("int64")
    net = net.groupby(changes.index.normalize()).sum()
    days = pd.date_range(net.index.min(), net.index.max(), freq="D", name="date")
    live = start + net.reindex(days, fill_value=0).cumsum()
    if (live < 0).any():
        day = live.index[int(np.argmax((live < 0).to_numpy()))].date()
        raise InputDataError(f"apps_from_changes: the live count falls below zero on {day}")
    return live.rename("apps")
