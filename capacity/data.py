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

Plausible values
----------------
Timestamps must lie in :data:`FIRST_TIME` .. :data:`LAST_TIME` (1970-01-01 to 2199-12-31, UTC): no
digital count or CPU reading is older than the Unix epoch, and pandas' nanosecond timestamps overflow
beyond 2262 (and so do differences of more than 292 years). Counts of apps (and of items in a change
log) may be at most :data:`MAX_APPS` (10^12) and server counts at most :data:`MAX_SERVERS` (10^6):
larger values are corrupt data, and past 2^63 they would silently wrap around in int64.

A data file must be a regular file (or a symlink to one); a directory, a device such as ``/dev/null``,
a pipe, a broken symlink or a symlink loop is named as such.

Implausible values that pass these checks, such as one day's count set to 999,999,999, are found by
:func:`implausible_apps` (a robust test on the day-to-day changes) and removed with
:func:`drop_implausible`; loading never drops rows by itself.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import ArgumentError, InputDataError
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
    "implausible_apps",
    "drop_implausible",
    "load_tier_changes",
    "apply_tier_changes",
    "FIRST_TIME",
    "LAST_TIME",
    "MAX_APPS",
    "MAX_SERVERS",
]

#: the fewest app-count observations a growth fit can work with
MIN_POINTS = 10

MESSAGING_COLUMNS = ("timestamp", "server", "cpu_percent", "strategy", "servers")
#: kept when the file has it: the broker's deliveries per message in the reading's interval
DELIVERIES_COLUMN = "deliveries"
#: the most deliveries per message a reading may state (a broadcast to a million components)
MAX_DELIVERIES = 1_000_000

#: the earliest timestamp accepted in a data file (UTC)
FIRST_TIME = pd.Timestamp("1970-01-01")
#: the latest timestamp accepted in a data file (UTC): the end of 2199-12-31
LAST_TIME = pd.Timestamp("2199-12-31 23:59:59.999999")
#: the largest count of apps (or of change-log items) accepted [apps]
MAX_APPS = 10**12
#: the largest number of messaging servers accepted [servers]
MAX_SERVERS = 10**6

_RANGE = f"{FIRST_TIME.date()} .. {LAST_TIME.date()}"

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

    Raises
    ------
    InputDataError
        The file is missing, empty, unreadable or of an unsupported type, or is not a regular file
        (a directory, a device such as ``/dev/null``, a pipe, a broken symlink or a symlink loop).
    """
    check_args("read_table", path=(path, PATH))
    path = Path(path)
    _check_regular_file(path)
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


def _check_regular_file(path: Path) -> None:
    """The path must name a non-empty regular file (through symlinks); say what it is otherwise."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise InputDataError(f"{path}: is a broken symlink (to {os.readlink(path)})") from None
        raise InputDataError(f"{path}: file not found") from None
    except PermissionError:
        raise InputDataError(f"{path}: cannot be read (permission denied)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputDataError(f"{path}: is a symlink loop (following it never reaches a file)") from None
        raise InputDataError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputDataError(f"{path}: is a directory, not a data file")
    if not stat.S_ISREG(info.st_mode):
        raise InputDataError(f"{path}: is not a regular file (a device, pipe or socket); "
                             f"give a CSV or Parquet file")
    if info.st_size == 0:
        raise InputDataError(f"{path}: file is empty (expected a header and at least one row)")


def _setting(keyword: str, key: str | None = None, extra: str = "") -> str:
    """How to name a column that is missing: the config key (if there is one) and the keyword argument."""
    where = f"{key} in the config or {keyword}=... in Python" if key else f"{keyword}=..."
    return f"name the right column with {where}{extra}"


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], path: Path, what: str,
                     hints: Mapping[str, str] | None = None) -> None:
    """Each column must be in the file; the error names the columns found and how to fix it (``hints``)."""
    for column in columns:
        if column not in frame.columns:
            found = ", ".join(repr(c) for c in frame.columns)
            hint = (hints or {}).get(column)
            raise InputDataError(
                f"{path}: column {column!r} is missing from the {what} (columns found: {found})"
                + (f"; {hint}" if hint else "")
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

    Parameters
    ----------
    values : Series
        Text (ISO 8601, with or without a UTC offset) or datetimes.
    path : Path or None
        Names the source in error messages (None: the caller prefixes its own).
    column : str
        The column's name, for error messages.

    Returns
    -------
    Series
        datetime64[ns], tz-naive UTC, within :data:`FIRST_TIME` .. :data:`LAST_TIME`.

    Raises
    ------
    InputDataError
        A missing or unparsable value, a column that mixes values with and without a UTC offset, or a
        time outside the supported range; naming the first bad row.
    """
    check_args("parse_times", values=(values, [InstanceOf(pd.Series)]), path=(path, [*PATH, None]),
               column=(column, [Text()]))
    _check_missing(values, path, column)
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
        if parsed.dt.tz is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        _check_time_range(parsed, values, path, column)
        return parsed.astype("datetime64[ns]")
    text = values.astype(str).str.strip()
    parsed = _parse_time_text(text, path, column)
    has_zone = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).to_numpy()
    if has_zone.any() and not has_zone.all():
        i = int(np.argmax(has_zone != has_zone[0]))
        raise _bad(path, column, i,
                   f"mixed timezones: {text.iloc[i]!r} "
                   f"{'has' if has_zone[i] else 'lacks'} a UTC offset but row 1 "
                   f"{'does' if has_zone[0] else 'does not'}")
    parsed = parsed.dt.tz_localize(None)
    _check_time_range(parsed, text, path, column)
    return parsed.astype("datetime64[ns]")


def _parse_time_text(text: pd.Series, path: Path | None, column: str) -> pd.Series:
    """ISO 8601 text to UTC datetimes; the first unparsable (or unrepresentable) value is an error."""
    try:
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        parsed = None  # some value is beyond what pandas can hold: find the first bad one, in row order
    rows = range(len(text)) if parsed is None else np.flatnonzero(parsed.isna().to_numpy())
    for i in rows:
        try:
            one = pd.to_datetime(text.iloc[i], format="ISO8601", utc=True)
        except (pd.errors.OutOfBoundsDatetime, OverflowError):
            raise _bad(path, column, int(i), _out_of_range(text.iloc[i])) from None
        except ValueError:
            one = pd.NaT
        if pd.isna(one):
            raise _bad(path, column, int(i), f"cannot parse {text.iloc[i]!r} as a date/time (use ISO 8601)")
        if not FIRST_TIME <= one.tz_localize(None) <= LAST_TIME:
            raise _bad(path, column, int(i), _out_of_range(text.iloc[i]))
    if parsed is None:  # pragma: no cover - each value is fine alone but pandas cannot hold them together
        raise _bad(path, column, 0, "cannot parse the column as dates/times (use ISO 8601)")
    return parsed


def _out_of_range(value: Any) -> str:
    return f"{value!r} is outside the supported range {_RANGE} (UTC)"


def _check_time_range(parsed: pd.Series, shown: pd.Series, path: Path | None, column: str) -> None:
    """Times (tz-naive UTC, any unit) must lie in FIRST_TIME .. LAST_TIME; the error quotes ``shown``."""
    outside = ((parsed < FIRST_TIME) | (parsed > LAST_TIME)).to_numpy(bool)
    if outside.any():
        i = int(np.argmax(outside))
        value = shown.iloc[i]
        raise _bad(path, column, i, _out_of_range(value if isinstance(value, str) else str(value)))


def _parse_numbers(values: pd.Series, path: Path | None, column: str) -> pd.Series:
    """Finite numbers (float); a missing, non-numeric or infinite value is an error naming its row."""
    _check_missing(values, path, column)
    numbers = pd.to_numeric(values, errors="coerce")
    as_float = numbers.to_numpy(float)
    not_number = np.isnan(as_float)
    failed = not_number | ~np.isfinite(as_float)
    if failed.any():
        i = int(np.argmax(failed))
        what = "a number" if not_number[i] else "a finite number"
        raise _bad(path, column, i, f"{values.iloc[i]!r} is not {what}")
    return pd.Series(as_float, index=values.index)


def _too_large(numbers: pd.Series, values: pd.Series, path: Path | None, column: str, limit: int,
               noun: str) -> None:
    """Refuse values beyond a documented plausibility bound (they are corrupt, or would wrap in int64)."""
    large = (numbers > limit).to_numpy()
    if large.any():
        i = int(np.argmax(large))
        raise _bad(path, column, i, f"{values.iloc[i]!r} is implausibly large for a number of {noun} "
                                    f"(at most {limit:,})")


def _parse_names(values: pd.Series, path: Path | None, column: str) -> pd.Series:
    """Names (server, strategy): stripped text without control characters (they end up in charts)."""
    _check_missing(values, path, column)
    text = values.astype(str).str.strip()
    control = text.str.contains(r"[\x00-\x1f\x7f-\x9f]", regex=True).to_numpy(bool)
    if control.any():
        i = int(np.argmax(control))
        char = next(c for c in text.iloc[i] if ord(c) < 32 or 127 <= ord(c) < 160)
        raise _bad(path, column, i, f"{values.iloc[i]!r} contains a control character ({char!r})")
    return text


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


def _check_counts(values: pd.Series, path: Path, column: str, noun: str = "apps") -> pd.Series:
    """Whole numbers in 0 .. MAX_APPS (int64) [``noun``]."""
    numbers = _parse_numbers(values, path, column)
    negative = (numbers < 0).to_numpy()
    if negative.any():
        i = int(np.argmax(negative))
        raise _bad(path, column, i, f"negative count {values.iloc[i]!r}")
    _too_large(numbers, values, path, column, MAX_APPS, noun)
    fractional = (numbers != np.round(numbers)).to_numpy()
    if fractional.any():
        i = int(np.argmax(fractional))
        raise _bad(path, column, i, f"{values.iloc[i]!r} is not a whole number of {noun}")
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
        Naming the file, column and first bad row: a date outside :data:`FIRST_TIME` ..
        :data:`LAST_TIME`, a count above :data:`MAX_APPS`, ...; a missing column names the config key
        (``data.apps_columns.date``, ...) and the keyword argument (``date_col=``, ...) that fix it.
    """
    check_args("load_apps", path=(path, PATH), date_col=(date_col, [Text()]), apps_col=(apps_col, [Text()]),
               new_apps_col=(new_apps_col, [Text(), None]), min_points=(min_points, [_COUNT]))
    path = Path(path)
    raw = read_table(path)
    if new_apps_col is None and "new_apps" in raw.columns:
        new_apps_col = "new_apps"
    wanted = [date_col, apps_col] + ([new_apps_col] if new_apps_col else [])
    hints = {column: _setting(f"{key}_col", f"data.apps_columns.{key}")
             for key, column in (("new_apps", new_apps_col), ("apps", apps_col), ("date", date_col))}
    _require_columns(raw, wanted, path, "app counts", hints)

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
    no_removals = " (or removed_col=None when the log has no removals)"
    hints = {date_col: _setting("date_col"), added_col: _setting("added_col"),
             removed_col: _setting("removed_col", extra=no_removals)}
    _require_columns(raw, [date_col, added_col] + ([removed_col] if removed_col else []),
                     path, "change log", hints)
    frame = pd.DataFrame({"date": parse_times(raw[date_col], path, date_col).dt.normalize()})
    frame["added"] = _check_counts(raw[added_col], path, added_col, "items")
    frame["removed"] = _check_counts(raw[removed_col], path, removed_col, "items") if removed_col else 0
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
    deliveries_col: str = DELIVERIES_COLUMN,
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
    deliveries_col : str, default "deliveries"
        Optional column: the deliveries per message the broker counted in the reading's interval
        (Redis PUBLISH returns it) [deliveries]; empty where unknown. When present the messaging fit
        measures each strategy's fan-out from it (:func:`capacity.fit_messaging`).
    defaults : mapping, optional
        Constant values for columns the file lacks, keyed by the canonical names ``server`` (str),
        ``strategy`` (str) and ``servers`` (int >= 1), e.g. ``{"server": "db-1", "strategy":
        "broadcast", "servers": 1}`` for a single-host CPU trace (``timestamp,value`` with
        ``cpu_col="value"``). When the strategy or server count changed during the trace, fill them
        from a change log afterwards: ``apply_tier_changes(samples, load_tier_changes(path))``.
    cpu_scale : {"percent", "fraction"}, default "percent"
        Unit of the CPU column. Fractions (0..1) are converted to percent.
    min_points : int, default :data:`MIN_POINTS`
        Fewest samples accepted (>= 1).

    Returns
    -------
    DataFrame
        Columns ``timestamp`` (datetime64, tz-naive UTC), ``server`` (str), ``cpu_percent``
        (float, 0..100) [%], ``strategy`` (str), ``servers`` (int64), and ``deliveries`` (float, NaN
        where unknown) when the file has it; sorted by timestamp, server.

    Raises
    ------
    ArgumentError
        An argument of the wrong type or out of range.
    InputDataError
        Naming the file, column and first bad row; CPU that looks like a 0..1 fraction is named as
        such. A missing column names the config key (``data.messaging_columns.NAME``), the keyword
        argument and, for server, strategy and servers, the ``defaults=`` that replaces it.
    """
    names = {"timestamp": timestamp_col, "server": server_col, "cpu_percent": cpu_col,
             "strategy": strategy_col, "servers": servers_col}
    _check_messaging_args(path, {**names, "deliveries": deliveries_col}, defaults, cpu_scale, min_points)
    path = Path(path)
    raw = read_table(path)
    defaults = dict(defaults or {})
    _require_columns(raw, [c for k, c in names.items() if k not in defaults or c in raw.columns],
                     path, "messaging samples", _messaging_hints(names))

    def column(key: str) -> pd.Series:
        if names[key] in raw.columns:
            return raw[names[key]]
        return pd.Series([defaults[key]] * len(raw), index=raw.index, dtype=object)

    frame = pd.DataFrame({"timestamp": parse_times(raw[timestamp_col], path, timestamp_col)})
    for key in ("server", "strategy"):
        frame[key] = _parse_names(column(key), path, names[key])
    frame["servers"] = _parse_servers(column("servers"), path, servers_col)
    frame["cpu_percent"] = _parse_cpu(raw[cpu_col], path, cpu_col, cpu_scale).to_numpy(float)
    columns = list(MESSAGING_COLUMNS)
    if deliveries_col in raw.columns:
        counts = _parse_deliveries(raw[deliveries_col], path, deliveries_col)
        frame[DELIVERIES_COLUMN] = counts.to_numpy(float)
        columns.append(DELIVERIES_COLUMN)

    frame = _sorted_unique(frame, ["timestamp", "server"], path, timestamp_col)
    if len(frame) < min_points:
        raise InputDataError(
            f"{path}, column {cpu_col!r}: {len(frame)} samples are too few; at least {min_points} are needed"
        )
    return frame.reset_index(drop=True)[columns]


def _parse_deliveries(values: pd.Series, path: Path | None, column: str) -> pd.Series:
    """Deliveries per message: empty (unknown) or a finite number in 0 .. MAX_DELIVERIES."""
    blank = _blank(values)
    numbers = pd.to_numeric(values.where(~blank), errors="coerce").astype(float)
    bad = ~blank & ~(np.isfinite(numbers) & (numbers >= 0) & (numbers <= MAX_DELIVERIES)).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise _bad(path, column, i, f"{values.iloc[i]!r} is not a number of deliveries per message in "
                                    f"0..{MAX_DELIVERIES:,} (leave it empty where unknown)")
    return numbers


def _messaging_hints(names: Mapping[str, str]) -> dict[str, str]:
    """Per column of load_messaging: the config key and keyword naming it, and the default replacing it."""
    hints = {}
    for key, column in names.items():
        keyword = "cpu_col" if key == "cpu_percent" else f"{key}_col"
        extra = (f", or give every row the same value with defaults={{{key!r}: ...}}"
                 if key in _DEFAULTS else "")
        hints[column] = _setting(keyword, f"data.messaging_columns.{key}", extra)
    return hints


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


def _parse_servers(values: pd.Series, path: Path | None, column: str) -> pd.Series:
    """Server counts: whole numbers in 1 .. MAX_SERVERS (int64)."""
    servers = _parse_numbers(values, path, column)
    _too_large(servers, values, path, column, MAX_SERVERS, "servers")
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


def daily_tier_cpu(samples: pd.DataFrame, *, servers: int | None = None, metric: str = "daily_mean",
                   quantile: float | None = None, server: str = "average") -> pd.Series:
    """Daily CPU of the average (or hottest) messaging server, comparable across changes in server count.

    Parameters
    ----------
    samples : DataFrame
        Output of :func:`load_messaging` (``timestamp``, ``cpu_percent`` [%], ``servers``; ``server``
        for the busy hours and the hottest server).
    servers : int, optional
        Express every day as if this many servers (>= 1) shared the load (default: no rescaling,
        each day's own count).
    metric : {"daily_mean", "busiest_hour", "quantile"}, default "daily_mean"
        The day's mean, its busiest hour, or the ``quantile`` of its hours (hourly means first).
    quantile : float, optional
        With ``metric="quantile"``: the quantile of the day's hours, in (0, 1).
    server : {"average", "hottest"}, default "average"
        The average of the servers, or in each hour the busiest one.

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
    from capacity.load.profile import METRICS, SERVERS

    check_args("daily_tier_cpu", samples=(samples, [InstanceOf(pd.DataFrame)]),
               servers=(servers, [_COUNT, None]), metric=(metric, [Options(METRICS)]),
               quantile=(quantile, [Interval(float, 0, 1, closed="neither"), None]),
               server=(server, [Options(SERVERS)]))
    if metric == "quantile" and quantile is None:
        raise ArgumentError("daily_tier_cpu: metric 'quantile' needs quantile, a number in (0, 1)")
    hourly = metric != "daily_mean" or server != "average"
    needed = ["timestamp", "cpu_percent"] + (["servers"] if servers is not None else [])
    _check_frame_columns(samples, needed + (["server"] if hourly else []), "daily_tier_cpu", "samples")
    scale = samples["servers"] / servers if servers is not None else 1.0
    tier = samples["cpu_percent"] * scale  # percent of one of ``servers`` servers
    if not hourly:
        return tier.groupby(samples["timestamp"].dt.floor("D").rename("date")).mean().rename("cpu_percent")
    cells = tier.groupby([samples["timestamp"].dt.floor("h"), samples["server"]]).mean()
    hours = cells.groupby(level=0).max() if server == "hottest" else cells.groupby(level=0).mean()
    days = hours.groupby(hours.index.floor("D").rename("date"))
    if metric == "quantile":
        return days.quantile(quantile).rename("cpu_percent")
    return (days.max() if metric == "busiest_hour" else days.mean()).rename("cpu_percent")


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


# --- implausible app counts ---------------------------------------------------------------------

_MAD_TO_SD = 1.4826  # the median absolute deviation times this estimates the standard deviation (normal data)


def implausible_apps(
    apps: pd.DataFrame | pd.Series,
    *,
    threshold: float = 20.0,
    min_change: float = 100.0,
    max_ratio: float = 10.0,
    max_run: int = 7,
) -> pd.DataFrame:
    """Find app counts that cannot be real: spikes far beyond the series' own day-to-day changes.

    The test is robust: the typical change is the median of the changes per day between consecutive
    counts, and their spread is 1.4826 x the median absolute deviation (MAD) of those changes, so a
    few absurd values do not hide themselves by inflating the spread. A change is *huge* when it lies
    more than ``threshold`` spreads from the typical change **and** is at least ``min_change`` apps
    (the floor keeps a flat series, whose MAD is 0, from having every small step called huge). Then

    - a **spike**: a huge jump followed, within ``max_run`` observations, by a huge jump the other
      way that brings the count back (at least halfway) is flagged, every count of the run;
    - a huge jump among the last ``max_run`` observations that changes the count ``max_ratio``-fold or
      more is flagged to the end (no later count can confirm it);
    - the first observations are flagged when the count then drops ``max_ratio``-fold or more by a
      huge jump within ``max_run`` observations (a count does not start ten times too high).

    A step that stays (a batch import, a launch from zero, a change of what is counted) is not
    flagged: it is real, or a matter for a human, and the growth fit's regime detection sees it.

    Parameters
    ----------
    apps : DataFrame or Series
        Output of :func:`load_apps` (its ``apps`` column is used), or a Series of live counts [apps]
        on a DatetimeIndex of unique dates; gaps are allowed (changes are compared per day).
    threshold : float, default 20
        How many robust spreads (1.4826 MAD) from the typical change per day a change must lie to be
        huge (> 0). Normal data almost never exceed 5.
    min_change : float, default 100
        The smallest change [apps] that can be huge (>= 0); also the smallest level a ``max_ratio``
        comparison divides by.
    max_ratio : float, default 10
        A jump at either end of the series must change the count this many fold to be flagged (> 1).
    max_run : int, default 7
        The longest run of implausible counts [observations] (>= 1).

    Returns
    -------
    DataFrame
        One row per implausible count, in date order: ``date`` (datetime64), ``value`` (the count, in
        the input's dtype) and ``reason`` (one line); empty (with these columns) when none is found or
        the series has fewer than 3 counts. Remove them with :func:`drop_implausible`.

    Raises
    ------
    ArgumentError
        An argument of the wrong type or out of range, or ``apps`` empty.
    InputDataError
        ``apps`` not indexed by unique dates, without an ``apps`` column, or not numeric.

    Examples
    --------
    >>> apps = load_apps("capacity/sample/apps.csv")  # doctest: +SKIP
    >>> clean = drop_implausible(apps, implausible_apps(apps))  # doctest: +SKIP
    """
    owner = "implausible_apps"
    check_args(owner, apps=(apps, [InstanceOf(pd.DataFrame, pd.Series)]),
               threshold=(threshold, [Interval(float, 0, None, closed="neither")]),
               min_change=(min_change, [Interval(float, 0, None)]),
               max_ratio=(max_ratio, [Interval(float, 1, None, closed="neither")]),
               max_run=(max_run, [_COUNT]))
    counts = _app_counts(owner, apps)
    reasons: dict[int, str] = {}
    x = counts.to_numpy(float)
    if len(x) >= 3:
        huge = _huge_changes(counts, threshold, min_change)
        reasons.update(_spikes(x, huge, max_run))
        for found in (_jump_at_end(x, huge, min_change, max_ratio, max_run),
                      _drop_after_start(x, huge, min_change, max_ratio, max_run)):
            reasons.update({i: why for i, why in found.items() if i not in reasons})
    rows = sorted(reasons)
    return pd.DataFrame({"date": counts.index[rows], "value": counts.iloc[rows].to_numpy(),
                         "reason": pd.Series([reasons[i] for i in rows], dtype=object)})


def _app_counts(owner: str, apps: pd.DataFrame | pd.Series) -> pd.Series:
    """The counts of a load_apps frame or a Series, checked: dated, unique, numeric, sorted, NaN dropped."""
    _check_not_empty(owner, apps=apps)
    if isinstance(apps, pd.DataFrame):
        _check_frame_columns(apps, ["apps"], owner, "apps")
        apps = apps["apps"]
    if not isinstance(apps.index, pd.DatetimeIndex):
        raise InputDataError(f"{owner}: apps must be indexed by date (a DatetimeIndex)")
    if not pd.api.types.is_numeric_dtype(apps) or pd.api.types.is_bool_dtype(apps):
        raise InputDataError(f"{owner}: apps must hold numbers of apps, not {apps.dtype}")
    counts = apps.dropna().sort_index(kind="stable")
    repeated = counts.index.duplicated()
    if repeated.any():
        raise InputDataError(f"{owner}: apps has the date {counts.index[np.argmax(repeated)].date()} twice")
    return counts


def _huge_changes(counts: pd.Series, threshold: float, min_change: float) -> np.ndarray:
    """Per change between consecutive counts: far beyond the robust spread of the changes per day."""
    change = np.diff(counts.to_numpy(float))
    days = np.diff(counts.index.to_numpy("datetime64[ns]")) / np.timedelta64(1, "D")
    rate = change / days
    typical = np.median(rate)
    spread = _MAD_TO_SD * np.median(np.abs(rate - typical))
    return (np.abs(rate - typical) > threshold * spread) & (np.abs(change) >= min_change)


def _far(x: np.ndarray, base: float, jump: float) -> np.ndarray:
    """Counts still on the far side of a jump from ``base``: moved the same way by more than half of it."""
    return (np.sign(x - base) == np.sign(jump)) & (np.abs(x - base) > abs(jump) / 2)


def _spikes(x: np.ndarray, huge: np.ndarray, max_run: int) -> dict[int, str]:
    """Runs of at most ``max_run`` counts that jump and come back, each by a huge change."""
    change = np.diff(x)
    found: dict[int, str] = {}
    for k in np.flatnonzero(huge):
        if k + 1 in found:
            continue  # the jump back out of a spike already found
        base, jump = x[k], change[k]
        for m in range(k + 1, min(k + max_run, len(change) - 1) + 1):
            if not _far(x[m:m + 1], base, jump)[0]:
                break  # the count came back without a huge change: a step, not a spike
            if huge[m] and np.sign(change[m]) == -np.sign(jump) and not _far(x[m + 1:m + 2], base, jump)[0]:
                run = f" ({m - k} observations)" if m > k + 1 else ""
                for i in range(k + 1, m + 1):
                    found[i] = (f"spike: jumps from {base:,.0f} to {x[i]:,.0f} and comes back to "
                                f"{x[m + 1]:,.0f}{run}")
                break
    return found


def _fold(a: float, b: float, floor: float) -> float:
    """How many fold the count changes from ``a`` to ``b``, either way (``floor`` at least)."""
    return max(a, b) / max(min(a, b), floor, 1.0)


def _jump_at_end(x: np.ndarray, huge: np.ndarray, min_change: float, max_ratio: float,
                 max_run: int) -> dict[int, str]:
    """A huge, ``max_ratio``-fold jump among the last ``max_run`` counts, nothing after it to confirm it."""
    n = len(x)
    for k in np.flatnonzero(huge):
        fold = _fold(x[k], x[k + 1], min_change)
        if k >= n - 1 - max_run and fold >= max_ratio and _far(x[k + 1:], x[k], x[k + 1] - x[k]).all():
            last = "on the last observation" if k == n - 2 else f"in the last {n - 1 - k} observations"
            return {i: (f"jumps {fold:,.0f}-fold from {x[k]:,.0f} to {x[k + 1]:,.0f} {last}, and no later "
                        f"count confirms it") for i in range(k + 1, n)}
    return {}


def _drop_after_start(x: np.ndarray, huge: np.ndarray, min_change: float, max_ratio: float,
                      max_run: int) -> dict[int, str]:
    """The first counts (at most ``max_run``) when the count then drops ``max_ratio``-fold, hugely."""
    for k in np.flatnonzero(huge[:max_run]):
        fold = _fold(x[k], x[k + 1], min_change)
        if x[k + 1] < x[k] and fold >= max_ratio and _far(x[:k + 1], x[k + 1], x[k] - x[k + 1]).all():
            return {i: (f"starts too high: {x[i]:,.0f} before the count drops {fold:,.0f}-fold to "
                        f"{x[k + 1]:,.0f}") for i in range(k + 1)}
    return {}


def drop_implausible(apps: pd.DataFrame | pd.Series, flagged: pd.DataFrame) -> pd.DataFrame | pd.Series:
    """Remove the counts :func:`implausible_apps` flagged.

    Parameters
    ----------
    apps : DataFrame or Series
        The app counts (output of :func:`load_apps` or a Series [apps]) on a DatetimeIndex.
    flagged : DataFrame
        Output of :func:`implausible_apps` (its ``date`` column is used); may be empty.

    Returns
    -------
    DataFrame or Series
        A copy of ``apps`` without the flagged dates (the dates left keep their gaps as gaps).

    Raises
    ------
    ArgumentError
        An argument of the wrong type.
    InputDataError
        ``apps`` not indexed by date, or ``flagged`` without a ``date`` column.
    """
    owner = "drop_implausible"
    check_args(owner, apps=(apps, [InstanceOf(pd.DataFrame, pd.Series)]),
               flagged=(flagged, [InstanceOf(pd.DataFrame)]))
    _check_frame_columns(flagged, ["date"], owner, "flagged")
    if not isinstance(apps.index, pd.DatetimeIndex):
        raise InputDataError(f"{owner}: apps must be indexed by date (a DatetimeIndex)")
    dates = pd.DatetimeIndex(pd.to_datetime(flagged["date"]))
    return apps.loc[~apps.index.isin(dates)].copy()


# --- changes of strategy and server count -------------------------------------------------------

def load_tier_changes(
    path: str | os.PathLike[str],
    *,
    timestamp_col: str = "timestamp",
    strategy_col: str = "strategy",
    servers_col: str = "servers",
) -> pd.DataFrame:
    """Load a change log of the messaging tier: the fan-out strategy and server count, from when each holds.

    A small file with one row per change, e.g. for a CPU trace that has no strategy or server
    column::

        timestamp,strategy,servers
        2010-06-01,broadcast,3
        2010-09-01,,4
        2010-10-27T02:00:00Z,targeted,

    Each row is in force from its timestamp until the next row's. A blank cell means "unchanged";
    the first change (in time) must give both. Rows may come in any order.

    Parameters
    ----------
    path : str or PathLike
        CSV or Parquet file.
    timestamp_col, strategy_col, servers_col : str
        Names of the columns holding the time of the change, the fan-out strategy name and the number
        of messaging servers in service from then on.

    Returns
    -------
    DataFrame
        Columns ``timestamp`` (datetime64, tz-naive UTC, sorted, unique), ``strategy`` (str) and
        ``servers`` (int64), blanks filled from the change before. Apply it to samples with
        :func:`apply_tier_changes`.

    Raises
    ------
    ArgumentError
        An argument of the wrong type.
    InputDataError
        Naming the file, column and first bad row.
    """
    check_args("load_tier_changes", path=(path, PATH), timestamp_col=(timestamp_col, [Text()]),
               strategy_col=(strategy_col, [Text()]), servers_col=(servers_col, [Text()]))
    path = Path(path)
    raw = read_table(path)
    columns = {"timestamp": timestamp_col, "strategy": strategy_col, "servers": servers_col}
    _require_columns(raw, list(columns.values()), path, "tier changes",
                     {column: _setting(f"{key}_col") for key, column in columns.items()})
    frame = pd.DataFrame({"timestamp": parse_times(raw[timestamp_col], path, timestamp_col),
                          "strategy": _unless_blank(raw[strategy_col], _parse_names, path, strategy_col),
                          "servers": _unless_blank(raw[servers_col], _parse_servers, path, servers_col),
                          "row": np.arange(len(raw))})
    frame = _sorted_unique(frame, ["timestamp"], path, timestamp_col).reset_index(drop=True)
    for key in ("strategy", "servers"):
        if pd.isna(frame[key].iloc[0]):
            raise _bad(path, columns[key], int(frame["row"].iloc[0]),
                       "missing value (the first change must give both the strategy and the server count; "
                       "a blank later means unchanged)")
    frame = frame.ffill().astype({"servers": "int64"})
    frame["strategy"] = frame["strategy"].astype(str)
    return frame[["timestamp", "strategy", "servers"]]


def _unless_blank(values: pd.Series, parse: Callable[[pd.Series, Path | None, str], pd.Series],
                  path: Path, column: str) -> pd.Series:
    """Parse the cells that are not blank (errors name their rows); blank cells become missing (NaN)."""
    blank = _blank(values)
    parsed = parse(values.astype(object).mask(blank, "1"), path, column)  # "1" is a valid name and count
    return parsed.astype(object).mask(blank)


def apply_tier_changes(samples: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """Fill the ``strategy`` and ``servers`` of each sample from the tier change in force at its time.

    Parameters
    ----------
    samples : DataFrame
        Messaging samples with a ``timestamp`` column (e.g. :func:`load_messaging` of a plain CPU trace
        with ``defaults=``); may be empty.
    changes : DataFrame
        Output of :func:`load_tier_changes`: at least one row with ``timestamp``, ``strategy`` and
        ``servers``. A change is in force from its timestamp on.

    Returns
    -------
    DataFrame
        A copy of ``samples`` (same index, rows and column order; the columns are added at the end if
        missing) whose ``strategy`` (str) and ``servers`` (int64) come from the latest change at or
        before each sample. Samples before the first change keep their own values.

    Raises
    ------
    ArgumentError
        An argument of the wrong type, or ``changes`` empty.
    InputDataError
        A column missing or of the wrong kind, or a sample before the first change when ``samples``
        has no strategy and server count of its own.
    """
    owner = "apply_tier_changes"
    check_args(owner, samples=(samples, [InstanceOf(pd.DataFrame)]),
               changes=(changes, [InstanceOf(pd.DataFrame)]))
    _check_not_empty(owner, changes=changes)
    _check_frame_columns(samples, ["timestamp"], owner, "samples")
    _check_frame_columns(changes, ["timestamp", "strategy", "servers"], owner, "changes")
    changes = _checked_changes(owner, changes)
    times = _nanoseconds(owner, samples["timestamp"], "samples")
    at = _nanoseconds(owner, changes["timestamp"], "changes")
    which = np.searchsorted(at, times, side="right") - 1
    before = which < 0
    if before.any() and not {"strategy", "servers"} <= set(samples.columns):
        first = samples["timestamp"].iloc[np.flatnonzero(before)].min()
        raise InputDataError(f"{owner}: the sample at {first} precedes the first change "
                             f"({changes['timestamp'].iloc[0]}) and has no strategy and server count "
                             f"of its own; start the change log on or before the first sample")
    out = samples.copy()
    for column in ("strategy", "servers"):
        values = changes[column].to_numpy()[np.where(before, 0, which)]
        if before.any():
            values = np.where(before, samples[column].to_numpy(), values)
        out[column] = values
    return out.astype({"servers": "int64"})


def _checked_changes(owner: str, changes: pd.DataFrame) -> pd.DataFrame:
    """A change table made by hand gets the checks of load_tier_changes' values (rows counted from 1)."""
    try:
        strategy = _parse_names(changes["strategy"], None, "strategy")
        servers = _parse_servers(changes["servers"], None, "servers")
    except InputDataError as exc:
        raise InputDataError(f"{owner}: changes, {exc}") from None
    checked = changes.assign(strategy=strategy, servers=servers)
    return checked.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _nanoseconds(owner: str, times: pd.Series, name: str) -> np.ndarray:
    """Datetimes as int64 nanoseconds (for searchsorted); anything else is an error naming the frame."""
    if not pd.api.types.is_datetime64_any_dtype(times):
        raise InputDataError(f"{owner}: column 'timestamp' of {name} must hold datetimes, not {times.dtype}")
    if times.isna().any():
        raise InputDataError(f"{owner}: column 'timestamp' of {name} has a missing value")
    return times.to_numpy("datetime64[ns]").astype(np.int64)
