"""Read the app counts and the messaging samples from a Prometheus HTTP API.

Anything that serves Prometheus's ``/api/v1/query_range`` works: Prometheus itself, Thanos, Mimir,
Cortex, VictoriaMetrics (give the URL the API lives under, e.g. ``http://mimir/prometheus``).
:func:`fetch_apps` and :func:`fetch_messaging` return exactly the frames of
:func:`capacity.data.load_apps` and :func:`capacity.data.load_messaging`, so the rest of the pipeline
cannot tell where its input came from; :func:`write_parquet` stores them beside the report (a replay
reads the Parquet with the same loaders, offline) and :func:`fetched_inputs_record` says in
``summary.json`` what was fetched.

Evaluation times
----------------
``start`` and ``end`` bound the evaluation times; evaluations fall on whole multiples of ``step``
counted from the Unix epoch, so a daily step evaluates at 00:00 UTC and an hourly one on the hour:
from the first multiple at or after ``start`` to the last at or before ``end``. Prometheus refuses
more than 11,000 evaluations per series in one request (:data:`MAX_POINTS`); a longer range is
fetched in consecutive requests, each starting one step after the previous one ended, so no
evaluation is missed or fetched twice (:func:`split_range`). All times are tz-naive UTC, as in
:mod:`capacity.data`.

Which day an app count belongs to
---------------------------------
A daily query evaluated at midnight, such as ``last_over_time(platform_live_apps[1d])`` at
2010-10-21 00:00 UTC, returns the last value of the day that just ended: the count at the end of
2010-10-20. So by default (``midnight="previous"``) a value evaluated at exactly 00:00 UTC belongs
to the previous day, and a value evaluated at any other time to the day it falls in; when several
evaluations fall on one day (a step shorter than a day) the latest is that day's count. Use
``midnight="same"`` for series stamped at the start of the day they describe (a table exported with
its date at 00:00 and queried without ``last_over_time``). See :func:`sample_day`.

Staleness
---------
An instant selector (``broker_cpu_percent``) evaluated at time T returns the latest sample at or
before T, but only if it is at most the lookback delta (5 minutes by default) old. Hence:

- hourly samples queried with ``step="1h"`` on the hour come back once each, with their own
  timestamps (an hour without a sample stays a gap), and a series whose labels change (a new
  ``strategy`` or ``servers`` value) is not seen twice, since its last sample is stale an hour later;
- a step finer than the sampling interval repeats samples for up to 5 minutes (use a step equal to
  the interval, or an aggregate such as ``avg_over_time(cpu[1h])`` for a series scraped more often);
- a gauge sampled once a day is invisible to an instant selector at midnight: wrap it in
  ``last_over_time(x[1d])``.

Errors
------
Every failure is one line naming the server (credentials never shown) and the query:

- :class:`SourceUnavailableError` (exit status 1): no connection, no answer within ``timeout``, or
  HTTP 5xx/429 still failing after ``retries`` retries with exponential backoff (``backoff``,
  doubling, honouring ``Retry-After``, at most 30 s between attempts). Trying again later may work.
- :class:`SourceDataError`, an :class:`~capacity.errors.InputDataError` (exit status 2): the server
  refused the query (a PromQL error, with the server's own message; HTTP 4xx such as 401 or 404), the
  result is empty, a series lacks a label the source needs, or a value cannot be used (a negative or
  fractional app count, CPU outside 0..100, two series for the same server and time). Fix the config
  or the query.
- :class:`~capacity.errors.ConfigError` (exit 2): a credential variable named in the config is unset.

Authentication
--------------
Secrets are never arguments: ``username_env``/``password_env`` (HTTP basic auth) or ``token_env``
(a bearer token) name environment variables that hold them, read just before the requests are sent.
A URL with credentials in it is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests

from capacity.data import MAX_DELIVERIES, MESSAGING_COLUMNS, MIN_POINTS
from capacity.errors import ArgumentError, CapacityError, ConfigError, InputDataError
from capacity.validation import DateLike, HasMethods, InstanceOf, Interval, Options, Text, check_args

__all__ = [
    "MAX_POINTS",
    "SourceUnavailableError",
    "SourceDataError",
    "parse_duration",
    "split_range",
    "sample_day",
    "redact_url",
    "default_range",
    "query_range",
    "fetch_apps",
    "fetch_messaging",
    "write_parquet",
    "fetched_inputs_record",
]

#: Prometheus's limit on the evaluations of one series in one range query
MAX_POINTS = 11_000
DEFAULT_TIMEOUT = 30.0  # [s] per request: connecting, and then waiting for the answer
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5  # [s] before the first retry; doubles with each further one
MAX_BACKOFF = 30.0  # [s]
MIDNIGHT = ("previous", "same")
_TRANSIENT = (429, 500, 502, 503, 504)
_MS = {"y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000,
       "s": 1000, "ms": 1}
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_PATH = (Text(), HasMethods("__fspath__", what="a path (os.PathLike)"))
_POSITIVE = Interval(float, 0, None, closed="neither")


class SourceUnavailableError(CapacityError):
    """The server could not be reached or kept failing (connection, timeout, HTTP 5xx/429 after the
    retries): trying again later may work. Exit status 1."""

    exit_status = 1


class SourceDataError(InputDataError):
    """The server answered, but the query or its result cannot be used (PromQL error, HTTP 4xx, empty
    result, a missing label, an unusable value). Exit status 2, like any bad input."""

    exit_status = 2


# ----------------------------------------------------------------------------- time and ranges


def parse_duration(value: str | float | dt.timedelta) -> pd.Timedelta:
    """A step as a Timedelta: a Prometheus duration (``"1d"``, ``"1h30m"``, ``"15s"``, ``"500ms"``;
    ``y`` is 365 days), a number of seconds, or a timedelta; positive, a whole number of milliseconds."""
    check_args("parse_duration", value=(value, [Text(), _POSITIVE, InstanceOf(dt.timedelta)]))
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if not match or not value.strip():
            raise ArgumentError(f"parse_duration: value must be a Prometheus duration such as '1h' or '1d', "
                                f"not {value!r}")
        ms = sum(int(n) * unit for n, unit in zip(match.groups(), _MS.values(), strict=True) if n)
        delta = pd.Timedelta(milliseconds=ms)
    elif isinstance(value, dt.timedelta):
        delta = pd.Timedelta(value)
    else:
        delta = pd.Timedelta(seconds=float(value))
    if delta <= pd.Timedelta(0) or delta.value % 1_000_000:
        raise ArgumentError(f"parse_duration: value must be a positive whole number of milliseconds, "
                            f"not {value!r}")
    return delta


def _format_duration(ms: int) -> str:
    """Milliseconds as a Prometheus duration (``86400000`` -> ``"1d"``, ``5400000`` -> ``"1h30m"``)."""
    parts = []
    for unit, size in _MS.items():
        if unit in ("y", "w"):
            continue
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(parts)


def _utc_ms(value: Any) -> int:
    """A DateLike as integer milliseconds since the epoch (tz-aware converted to UTC, naive taken as UTC)."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return int(stamp.as_unit("ns").value // 1_000_000)


def _stamp(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms").as_unit("ns")


def _iso(ms: int) -> str:
    return _stamp(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def _step_ms(owner: str, step: Any) -> int:
    check_args(owner, step=(step, [Text(), _POSITIVE, InstanceOf(dt.timedelta)]))
    try:
        return int(parse_duration(step).value // 1_000_000)
    except ArgumentError as exc:
        raise ArgumentError(str(exc).replace("parse_duration: value", f"{owner}: step", 1)) from None


def _aligned(owner: str, start: Any, end: Any, step: Any) -> tuple[int, int, int]:
    """(first, last, step) in ms: the first and last multiples of step within [start, end]."""
    check_args(owner, start=(start, [DateLike()]), end=(end, [DateLike()]))
    step_ms = _step_ms(owner, step)
    lo, hi = _utc_ms(start), _utc_ms(end)
    first, last = -(-lo // step_ms) * step_ms, hi // step_ms * step_ms
    if first > last:
        raise ArgumentError(f"{owner}: the range {_iso(lo)} .. {_iso(hi)} holds no multiple of step "
                            f"{_format_duration(step_ms)} (start must be on or before end)")
    return first, last, step_ms


def split_range(
    start: Any, end: Any, step: str | float | dt.timedelta, max_points: int = MAX_POINTS
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The requests a range query is split into: (first, last) evaluation time of each.

    Evaluations fall on multiples of ``step`` from the epoch within [start, end]; each request holds
    at most ``max_points`` of them and starts one step after the previous one ends (no gap, no
    overlap).
    """
    check_args("split_range", max_points=(max_points, [Interval(int, 1, None)]))
    first, last, step_ms = _aligned("split_range", start, end, step)
    return [(_stamp(lo), _stamp(hi)) for lo, hi in _chunks(first, last, step_ms, max_points)]


def _chunks(first: int, last: int, step_ms: int, max_points: int) -> list[tuple[int, int]]:
    n = (last - first) // step_ms + 1
    return [(first + i * step_ms, first + (min(i + max_points, n) - 1) * step_ms)
            for i in range(0, n, max_points)]


def sample_day(timestamps: Any, *, midnight: str = "previous") -> pd.DatetimeIndex:
    """The day (00:00 UTC, tz-naive) an app count evaluated at each timestamp belongs to.

    Parameters
    ----------
    timestamps : DatetimeIndex, Series or sequence of datetimes
        Evaluation times (tz-aware ones are converted to UTC).
    midnight : {"previous", "same"}, default "previous"
        "previous": a timestamp at exactly 00:00 UTC ends the previous day, so its value is that
        day's (``last_over_time(x[1d])`` evaluated at midnight returns the day that just ended); any
        other timestamp belongs to the day it falls in. "same": every timestamp belongs to the day it
        falls in (series stamped at the start of the day they describe).

    Returns
    -------
    DatetimeIndex
        Named ``date``, one day per timestamp.
    """
    check_args("sample_day", midnight=(midnight, [Options(MIDNIGHT)]))
    times = pd.DatetimeIndex(timestamps)
    if times.tz is not None:
        times = times.tz_convert("UTC").tz_localize(None)
    times = times.astype("datetime64[ns]")
    days = times.normalize()
    if midnight == "previous":
        days = pd.DatetimeIndex(np.where(times == days, days - pd.Timedelta(days=1), days))
    return pd.DatetimeIndex(days.astype("datetime64[ns]"), name="date")


def default_range(
    as_of: Any = None, *, lookback: str | float | dt.timedelta = "3y", now: Any = None
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A fetch range for a report as of ``as_of``: (end - lookback, end).

    ``end`` is 00:00 UTC after ``as_of`` (the midnight whose daily evaluation returns the as-of day's
    count) or, without ``as_of``, ``now`` (default: the current time).
    """
    check_args("default_range", as_of=(as_of, [DateLike(), None]), now=(now, [DateLike(), None]))
    if as_of is not None:
        end = _stamp(_utc_ms(as_of)).normalize() + pd.Timedelta(days=1)
    else:
        end = _stamp(_utc_ms(now if now is not None else pd.Timestamp.now(tz="UTC")))
    return end - parse_duration(lookback), end


# ----------------------------------------------------------------------------- the HTTP client


def redact_url(url: str) -> str:
    """The URL as messages and records show it: scheme, host, port and path; no credentials or query."""
    parts = urllib.parse.urlsplit(str(url))
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return urllib.parse.urlunsplit((parts.scheme, host + port, parts.path.rstrip("/"), "", ""))


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Client:
    """One server and how to talk to it; secrets are read from the environment only in :meth:`session`."""

    def __init__(self, owner: str, url: Any, timeout: Any, retries: Any, backoff: Any, max_points: Any,
                 username_env: Any, password_env: Any, token_env: Any) -> None:
        check_args(owner, url=(url, [InstanceOf(str)]))
        parts = urllib.parse.urlsplit(url.strip())
        if parts.username is not None or parts.password is not None:
            raise ArgumentError(f"{owner}: url must not hold credentials ({redact_url(url)}): name "
                                "environment variables in username_env/password_env or token_env")
        try:
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            parts = parts._replace(scheme="")
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ArgumentError(f"{owner}: url must be an http:// or https:// URL of the API's base, "
                                "without query or fragment, such as 'http://127.0.0.1:9090', not "
                                f"{_short(url, 60)!r}")
        check_args(owner, timeout=(timeout, [_POSITIVE]), retries=(retries, [Interval(int, 0, None)]),
                   backoff=(backoff, [Interval(float, 0, None)]),
                   max_points=(max_points, [Interval(int, 1, None)]),
                   username_env=(username_env, [Text(), None]), password_env=(password_env, [Text(), None]),
                   token_env=(token_env, [Text(), None]))
        if (username_env is None) != (password_env is None):
            raise ArgumentError(f"{owner}: username_env and password_env go together (basic auth); "
                                f"given only {'username_env' if password_env is None else 'password_env'}")
        if token_env is not None and username_env is not None:
            raise ArgumentError(f"{owner}: give token_env (bearer token) or username_env/password_env "
                                "(basic auth), not both")
        self.url = url.strip().rstrip("/")
        self.shown = redact_url(self.url)
        self.timeout, self.retries, self.backoff = float(timeout), int(retries), float(backoff)
        self.max_points = int(max_points)
        self.env = {"username_env": username_env, "password_env": password_env, "token_env": token_env}

    def where(self, query: str) -> str:
        return f"Prometheus {self.shown}, query {_short(query)!r}"

    def session(self, where: str) -> requests.Session:
        def secret(key: str) -> str:
            value = os.environ.get(self.env[key])
            if not value:
                raise ConfigError(f"{where}: the environment variable {self.env[key]!r} named by {key} "
                                  "is not set")
            return value

        session = requests.Session()
        session.headers["Accept"] = "application/json"
        if self.env["token_env"]:
            session.headers["Authorization"] = f"Bearer {secret('token_env')}"
        elif self.env["username_env"]:
            session.auth = (secret("username_env"), secret("password_env"))
        return session


def _connection_reason(exc: requests.RequestException, timeout: float) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {timeout:g} s"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    if found:
        return f"cannot connect: {found.group(1).strip().lower()}"
    if re.search(r"aborted|closed|reset|RemoteDisconnected", str(exc)):
        return "the server closed the connection without an answer"
    return f"the request failed ({type(exc).__name__})"


def _server_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return _short(response.text, 200)
    if isinstance(body, Mapping) and body.get("error"):
        return _short(body["error"], 300)
    return _short(response.text, 200)


def _retry_after(response: requests.Response | None) -> float:
    value = response.headers.get("Retry-After", "") if response is not None else ""
    try:
        return max(float(value), 0.0)
    except ValueError:
        return 0.0


def _refused(response: requests.Response, where: str) -> SourceDataError:
    """The error for a final (non-transient) HTTP failure."""
    code, message = response.status_code, _server_message(response)
    if code in (400, 422):
        return SourceDataError(f"{where}: PromQL error: {message}")
    if code in (401, 403):
        return SourceDataError(f"{where}: HTTP {code} {response.reason}: the server refused the credentials "
                               "(set username_env/password_env or token_env)")
    if code == 404:
        return SourceDataError(f"{where}: HTTP 404 Not Found for /api/v1/query_range: is this the base URL "
                               "of a Prometheus HTTP API?")
    return SourceDataError(f"{where}: HTTP {code} {response.reason}: {message}")


def _get(client: _Client, session: requests.Session, params: Mapping[str, str], where: str) -> Any:
    """One request with retries of transient failures; the decoded ``data`` of a successful answer."""
    reason, attempts = "", client.retries + 1
    for attempt in range(attempts):
        response = None
        try:
            response = session.get(f"{client.url}/api/v1/query_range", params=params,
                                   timeout=(client.timeout, client.timeout))
        except requests.exceptions.SSLError as exc:
            raise SourceUnavailableError(f"{where}: TLS error: {_short(exc, 200)}") from None
        except requests.exceptions.InvalidHeader:
            raise ConfigError(f"{where}: the credentials hold characters that are not allowed in an HTTP "
                              "header") from None
        except requests.RequestException as exc:
            reason = _connection_reason(exc, client.timeout)
        else:
            if response.status_code == 200:
                return _decode(response, where)
            if response.status_code not in _TRANSIENT:
                raise _refused(response, where)
            reason = f"HTTP {response.status_code} {response.reason}: {_server_message(response)}"
        if attempt + 1 < attempts:
            delay = max(client.backoff * 2**attempt, _retry_after(response))
            time.sleep(min(delay, MAX_BACKOFF))
    tried = f" (tried {attempts} times)" if attempts > 1 else ""
    raise SourceUnavailableError(f"{where}: {reason}{tried}")


def _decode(response: requests.Response, where: str) -> Any:
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "unknown type")
        raise SourceDataError(f"{where}: the answer is not Prometheus API JSON (HTTP 200, {kind}): is this "
                              "the base URL of a Prometheus HTTP API?") from None
    if not isinstance(body, Mapping) or body.get("status") != "success" or "data" not in body:
        message = body.get("error", "no data") if isinstance(body, Mapping) else "not an object"
        raise SourceDataError(f"{where}: PromQL error: {_short(message, 300)}")
    data = body["data"]
    if not isinstance(data, Mapping) or data.get("resultType") != "matrix":
        kind = data.get("resultType") if isinstance(data, Mapping) else type(data).__name__
        raise SourceDataError(f"{where}: the result is a {kind}, not a range of series (matrix)")
    return data["result"]


def _fetch(client: _Client, query: str, first: int, last: int, step_ms: int) -> list[tuple[dict, Any, Any]]:
    """All series of ``query`` over [first, last]: (labels, times in ms, values), requests split."""
    where = client.where(query)
    series: dict[tuple, tuple[dict, list, list]] = {}
    with client.session(where) as session:
        for lo, hi in _chunks(first, last, step_ms, client.max_points):
            params = {"query": query, "start": f"{lo / 1000:.3f}", "end": f"{hi / 1000:.3f}",
                      "step": f"{step_ms / 1000:g}"}
            for item in _get(client, session, params, where):
                if "values" not in item:
                    raise SourceDataError(f"{where}: a series holds no float values (native histograms? "
                                          "query a gauge, or use histogram_quantile())")
                labels = {str(k): str(v) for k, v in item.get("metric", {}).items()}
                entry = series.setdefault(tuple(sorted(labels.items())), (labels, [], []))
                points = item["values"]
                seconds = np.array([p[0] for p in points], dtype=float)
                entry[1].append(np.rint(seconds * 1000).astype(np.int64))
                entry[2].append(np.array([p[1] for p in points], dtype=float))
    return [(labels, np.concatenate(t), np.concatenate(v)) for labels, t, v in series.values()]


def _empty(where: str, first: int, last: int, step_ms: int, query: str) -> SourceDataError:
    hint = ""
    if step_ms > 5 * 60_000 and "_over_time" not in query:
        hint = (f"; with step {_format_duration(step_ms)} an instant selector sees only samples at most 5 "
                "minutes before each evaluation: wrap a sparse series in last_over_time(x[1d]) or similar")
    return SourceDataError(f"{where}: empty result: no series between {_iso(first)} and {_iso(last)} "
                           f"(step {_format_duration(step_ms)}){hint}")


def _series_text(labels: Mapping[str, str]) -> str:
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return _short(f"{name}{{{inner}}}", 200)


def query_range(
    url: str,
    query: str,
    *,
    start: Any,
    end: Any,
    step: str | float | dt.timedelta,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    max_points: int = MAX_POINTS,
    username_env: str | None = None,
    password_env: str | None = None,
    token_env: str | None = None,
) -> list[tuple[dict[str, str], pd.Series]]:
    """Evaluate ``query`` over a range: every series as (labels, values on a ``timestamp`` index).

    Parameters are those of :func:`fetch_apps`. An empty result is an empty list here (the fetchers
    refuse it). Values are floats; timestamps tz-naive UTC.
    """
    owner = "query_range"
    check_args(owner, query=(query, [Text()]))
    client = _Client(owner, url, timeout, retries, backoff, max_points, username_env, password_env, token_env)
    first, last, step_ms = _aligned(owner, start, end, step)
    out = []
    for labels, times, values in _fetch(client, query, first, last, step_ms):
        index = pd.DatetimeIndex(pd.to_datetime(times, unit="ms").astype("datetime64[ns]"), name="timestamp")
        out.append((labels, pd.Series(values, index=index, name="value")))
    return out


# ----------------------------------------------------------------------------- app counts


def _daily_counts(client: _Client, query: str, span: tuple[int, int, int], midnight: str,
                  column: str) -> pd.Series:
    """The one series of ``query`` as whole counts per day (the latest evaluation of each day)."""
    where = client.where(query)
    found = _fetch(client, query, *span)
    if not found:
        raise _empty(where, *span, query)
    if len(found) > 1:
        shown = ", ".join(_series_text(labels) for labels, _, _ in found[:3])
        more = ", ..." if len(found) > 3 else ""
        raise SourceDataError(f"{where}: {len(found)} series ({shown}{more}); the {column} count must be "
                              "one series: aggregate it, e.g. sum(...)")
    _, times, values = found[0]
    days = sample_day(pd.to_datetime(times, unit="ms"), midnight=midnight)
    latest = ~days.duplicated(keep="last")  # times ascend: the day's latest evaluation is its count
    counts = pd.Series(values[latest], index=days[latest])
    when = {day: _iso(int(t)) for day, t in zip(days, times, strict=True)}
    for problem, bad in (("is not a finite number", ~np.isfinite(counts.to_numpy())),
                         ("is a negative count", counts.to_numpy() < 0),
                         ("is not a whole number of apps", counts.to_numpy() != np.round(counts.to_numpy()))):
        if bad.any():
            day = counts.index[int(np.argmax(bad))]
            raise SourceDataError(f"{where}: the value at {when[day]} (day {day.date()}), "
                                  f"{float(counts[day])!r}, {problem}")
    counts.index = pd.DatetimeIndex(counts.index.astype("datetime64[ns]"), name="date")
    return counts.astype("int64").rename(column)


def fetch_apps(
    url: str,
    query: str,
    *,
    start: Any,
    end: Any,
    step: str | float | dt.timedelta = "1d",
    new_apps_query: str | None = None,
    midnight: str = "previous",
    min_points: int = MIN_POINTS,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    max_points: int = MAX_POINTS,
    username_env: str | None = None,
    password_env: str | None = None,
    token_env: str | None = None,
) -> pd.DataFrame:
    """The live app count per day from a Prometheus HTTP API: the frame of :func:`~capacity.data.load_apps`.

    Parameters
    ----------
    url : str
        Base URL of the API (``http://127.0.0.1:9090``; ``/api/v1/query_range`` is appended).
    query : str
        PromQL giving one series: the number of live apps, e.g.
        ``last_over_time(platform_live_apps[1d])``.
    start, end : date, datetime or ISO 8601 string
        Bounds of the evaluation times (tz-naive means UTC); see the module docstring.
    step : str, number or timedelta, default "1d"
        Prometheus duration (or seconds) between evaluations, which fall on multiples of it from the
        epoch (00:00 UTC for "1d").
    new_apps_query : str, optional
        PromQL for the apps created each day; gives the ``new_apps`` column.
    midnight : {"previous", "same"}, default "previous"
        The day of a value evaluated at 00:00 UTC (:func:`sample_day`).
    min_points : int, default :data:`capacity.data.MIN_POINTS`
        Fewest days accepted.
    timeout : float, default 30
        Seconds to wait for a connection and then for an answer, per request.
    retries : int, default 3
        Retries of a request after a connection failure, a timeout or HTTP 5xx/429.
    backoff : float, default 0.5
        Seconds before the first retry, doubling with each further one (at most 30 s).
    max_points : int, default 11000
        Evaluations per series in one request; longer ranges are split.
    username_env, password_env : str, optional
        Names of the environment variables holding the basic-auth user and password.
    token_env : str, optional
        Name of the environment variable holding a bearer token.

    Returns
    -------
    DataFrame
        Index ``date`` (DatetimeIndex, tz-naive UTC days, sorted, unique), column ``apps`` (int64)
        and ``new_apps`` (int64) with ``new_apps_query``. Days without a value are absent (gaps).

    Raises
    ------
    ArgumentError, SourceUnavailableError, SourceDataError, ConfigError
        See the module docstring.
    """
    owner = "fetch_apps"
    check_args(owner, query=(query, [Text()]), new_apps_query=(new_apps_query, [Text(), None]),
               midnight=(midnight, [Options(MIDNIGHT)]), min_points=(min_points, [Interval(int, 1, None)]))
    client = _Client(owner, url, timeout, retries, backoff, max_points, username_env, password_env, token_env)
    span = _aligned(owner, start, end, step)
    apps = _daily_counts(client, query, span, midnight, "apps")
    frame = apps.to_frame()
    if new_apps_query is not None:
        new = _daily_counts(client, new_apps_query, span, midnight, "new_apps")
        for a, b, qa, qb in ((apps, new, query, new_apps_query), (new, apps, new_apps_query, query)):
            lone = a.index.difference(b.index)
            if len(lone):
                raise SourceDataError(f"{client.where(qa)}: has a value for day {lone[0].date()} but the "
                                      f"query {_short(qb)!r} has none")
        frame["new_apps"] = new
    if len(frame) < min_points:
        raise SourceDataError(f"{client.where(query)}: {len(frame)} days are too few to fit growth; at least "
                              f"{min_points} are needed")
    return frame


# ----------------------------------------------------------------------------- messaging samples


def _label(labels: Mapping[str, str], name: str, where: str, role: str, constant: str) -> str:
    if name not in labels:
        hint = f"; name another label or set a constant {constant}" if constant else ""
        raise SourceDataError(f"{where}: the series {_series_text(labels)} lacks the label {name!r} "
                              f"({role}){hint}")
    return labels[name]


def _messaging_rows(found: list[tuple[dict, Any, Any]], where: str, server_label: str,
                    labels: Mapping[str, str | None], constants: Mapping[str, Any]) -> pd.DataFrame:
    """One row per evaluation: timestamp (ms), server, strategy, servers, cpu and the series' number."""
    parts = []
    for i, (series, times, values) in enumerate(found):
        server = _label(series, server_label, where, "the server", "")
        row = {"server": server}
        for key in ("strategy", "servers"):
            name = labels[key]
            row[key] = constants[key] if name is None else _label(series, name, where, f"the {key}", key)
        try:
            servers = float(row["servers"])
        except ValueError:
            servers = float("nan")
        if not (np.isfinite(servers) and servers >= 1 and servers == round(servers)):
            raise SourceDataError(f"{where}: the series {_series_text(series)} gives servers "
                                  f"{row['servers']!r}, not a whole number >= 1")
        parts.append(pd.DataFrame({"ms": times, "server": server, "strategy": str(row["strategy"]),
                                   "servers": int(servers), "cpu_percent": values, "_series": i}))
    return pd.concat(parts, ignore_index=True)


def _check_cpu(rows: pd.DataFrame, where: str, cpu_scale: str) -> pd.Series:
    cpu = rows["cpu_percent"].astype(float)
    top = (1, "0..1 (cpu_scale='fraction')") if cpu_scale == "fraction" else (100, "0..100 percent")
    for problem, bad in (("is not a finite number", ~np.isfinite(cpu.to_numpy())),
                         (f"is outside {top[1]}", ((cpu < 0) | (cpu > top[0])).to_numpy())):
        if bad.any():
            i = int(np.argmax(bad))
            raise SourceDataError(f"{where}: the value at {_iso(int(rows['ms'].iloc[i]))} for "
                                  f"{rows['server'].iloc[i]!r}, {float(cpu.iloc[i])!r}, {problem}")
    if cpu_scale == "fraction":
        return cpu * 100
    if len(cpu) >= 20 and cpu.max() <= 1.0 and cpu.gt(0).any():
        raise SourceDataError(f"{where}: every value is between 0 and 1: these look like fractions, not "
                              "percent (set cpu_scale = 'fraction' or multiply by 100 in the query)")
    return cpu


def _messaging_frame(found: list[tuple[dict, Any, Any]], where: str, server_label: str, cpu_scale: str,
                     labels: Mapping[str, str | None], constants: Mapping[str, Any]) -> pd.DataFrame:
    rows = _messaging_rows(found, where, server_label, labels, constants)
    rows["cpu_percent"] = _check_cpu(rows, where, cpu_scale).to_numpy(float)
    rows = rows.sort_values(["ms", "server"], kind="stable").reset_index(drop=True)
    repeated = rows.duplicated(["ms", "server"], keep=False).to_numpy()
    if repeated.any():
        i = int(np.argmax(repeated))
        same = (rows["ms"] == rows["ms"].iloc[i]) & (rows["server"] == rows["server"].iloc[i])
        a, b = rows.loc[same, "_series"].iloc[:2]
        raise SourceDataError(f"{where}: two series give {server_label}={rows['server'].iloc[i]!r} at "
                              f"{_iso(int(rows['ms'].iloc[i]))}: {_series_text(found[a][0])} and "
                              f"{_series_text(found[b][0])}; aggregate them in the query, e.g. "
                              f"max by ({server_label}) (...)")
    times = pd.to_datetime(rows["ms"].to_numpy(), unit="ms").astype("datetime64[ns]")
    frame = pd.DataFrame({"timestamp": times})
    for key in ("server", "strategy"):
        frame[key] = pd.Series(rows[key].to_numpy(dtype=object), dtype=object).astype(str).str.strip()
    frame["servers"] = rows["servers"].astype("int64")
    frame["cpu_percent"] = rows["cpu_percent"].to_numpy(float)
    return frame[list(MESSAGING_COLUMNS)]


def fetch_messaging(
    url: str,
    query: str,
    *,
    start: Any,
    end: Any,
    step: str | float | dt.timedelta = "1h",
    server_label: str = "instance",
    strategy_label: str | None = None,
    strategy: str | None = None,
    servers_label: str | None = None,
    servers: int | None = None,
    cpu_scale: str = "percent",
    deliveries_query: str | None = None,
    min_points: int = MIN_POINTS,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    max_points: int = MAX_POINTS,
    username_env: str | None = None,
    password_env: str | None = None,
    token_env: str | None = None,
) -> pd.DataFrame:
    """Messaging CPU samples from a Prometheus HTTP API: the frame of :func:`~capacity.data.load_messaging`.

    Parameters
    ----------
    url, start, end, timeout, retries, backoff, max_points, username_env, password_env, token_env
        As for :func:`fetch_apps`.
    query : str
        PromQL giving one series per messaging server: its CPU utilisation [%], e.g.
        ``broker_cpu_percent`` (hourly samples) or ``avg_over_time(broker_cpu_percent[1h])``.
    step : str, number or timedelta, default "1h"
        Between evaluations, on multiples of it from the epoch (on the hour for "1h").
    server_label : str, default "instance"
        The label naming the server of each series.
    strategy_label, strategy : str, optional
        The label holding the fan-out strategy in force, or a constant strategy name; at most one
        (neither: the label ``strategy``).
    servers_label, servers : optional
        The label holding the number of messaging servers in service, or a constant int >= 1; at
        most one (neither: the label ``servers``).
    cpu_scale : {"percent", "fraction"}, default "percent"
        Unit of the values; fractions (0..1) are converted to percent.
    deliveries_query : str, optional
        PromQL giving, per server (``server_label``), the deliveries per message the broker counted
        over each step, e.g. ``rate(broker_deliveries_total[1h]) / rate(broker_messages_total[1h])``;
        joined to the CPU samples as the ``deliveries`` column (NaN where it has no value).
    min_points : int, default :data:`capacity.data.MIN_POINTS`
        Fewest samples accepted.

    Returns
    -------
    DataFrame
        Columns ``timestamp`` (datetime64, tz-naive UTC: the evaluation time), ``server`` (str),
        ``cpu_percent`` (float, 0..100), ``strategy`` (str), ``servers`` (int64), and ``deliveries``
        (float) with ``deliveries_query``; sorted by timestamp, server.

    Raises
    ------
    ArgumentError, SourceUnavailableError, SourceDataError, ConfigError
        See the module docstring.
    """
    owner = "fetch_messaging"
    check_args(owner, query=(query, [Text()]), server_label=(server_label, [Text()]),
               strategy_label=(strategy_label, [Text(), None]), strategy=(strategy, [Text(), None]),
               servers_label=(servers_label, [Text(), None]),
               servers=(servers, [Interval(int, 1, None), None]),
               cpu_scale=(cpu_scale, [Options(["percent", "fraction"])]),
               deliveries_query=(deliveries_query, [Text(), None]),
               min_points=(min_points, [Interval(int, 1, None)]))
    for key, label, constant in (("strategy", strategy_label, strategy), ("servers", servers_label, servers)):
        if label is not None and constant is not None:
            raise ArgumentError(f"{owner}: give {key}_label or {key}, not both")
    client = _Client(owner, url, timeout, retries, backoff, max_points, username_env, password_env, token_env)
    span = _aligned(owner, start, end, step)
    where = client.where(query)
    found = _fetch(client, query, *span)
    if not found:
        raise _empty(where, *span, query)
    labels = {"strategy": strategy_label or (None if strategy is not None else "strategy"),
              "servers": servers_label or (None if servers is not None else "servers")}
    frame = _messaging_frame(found, where, server_label, cpu_scale, labels,
                             {"strategy": strategy, "servers": servers})
    if len(frame) < min_points:
        raise SourceDataError(f"{where}: {len(frame)} samples are too few; at least {min_points} are needed")
    if deliveries_query is not None:
        frame = _with_deliveries(frame, client, deliveries_query, span, server_label)
    return frame


def _with_deliveries(frame: pd.DataFrame, client: Any, query: str, span: tuple[Any, ...],
                     server_label: str) -> pd.DataFrame:
    """The CPU samples with the broker's deliveries per message of ``query`` joined by time and server."""
    where = client.where(query)
    found = _fetch(client, query, *span)
    if not found:
        raise _empty(where, *span, query)
    parts = [pd.DataFrame({"ms": times, "server": _label(series, server_label, where, "the server", ""),
                           "deliveries": np.asarray(values, dtype=float)}) for series, times, values in found]
    counts = pd.concat(parts, ignore_index=True)
    value = counts["deliveries"]
    # NaN (0/0 of an idle hour) is unknown; infinite, negative or absurd counts are errors
    bad = (value.notna() & ~(np.isfinite(value) & (value >= 0) & (value <= MAX_DELIVERIES))).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        value = float(counts["deliveries"].iloc[i])
        raise SourceDataError(f"{where}: the value at {_iso(int(counts['ms'].iloc[i]))} for "
                              f"{counts['server'].iloc[i]!r}, {value!r}, is not a number of deliveries per "
                              "message >= 0")
    if counts.duplicated(["ms", "server"]).any():
        raise SourceDataError(f"{where}: more than one series per {server_label}; aggregate them in the "
                              f"query, e.g. max by ({server_label}) (...)")
    counts["timestamp"] = pd.to_datetime(counts["ms"].to_numpy(), unit="ms").astype("datetime64[ns]")
    counts["server"] = counts["server"].astype(str).str.strip()
    return frame.merge(counts[["timestamp", "server", "deliveries"]], on=["timestamp", "server"], how="left",
                       validate="1:1")


# ----------------------------------------------------------------------------- storing and recording


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Store a fetched frame as Parquet, atomically, so that the file loaders read it back unchanged.

    An app-count frame (index ``date``) is stored with ``date`` as a column:
    ``load_apps(path)`` and ``load_messaging(path)`` return the frame that was stored.
    """
    check_args("write_parquet", frame=(frame, [InstanceOf(pd.DataFrame)]), path=(path, list(_PATH)))
    path = Path(path)
    table = frame.reset_index() if frame.index.name == "date" else frame.reset_index(drop=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        table.to_parquet(partial, index=False)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetched_inputs_record(
    path: str | os.PathLike[str],
    *,
    url: str,
    query: str,
    start: Any,
    end: Any,
    step: str | float | dt.timedelta,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What was fetched, for ``summary.json``'s ``inputs``: the stored file and where it came from.

    Returns
    -------
    dict
        ``file`` (name) and ``sha256`` of the stored Parquet (the keys a file input has), and
        ``source`` ("prometheus"), ``server`` (the URL without credentials), ``query``, ``step``
        (a Prometheus duration), ``start`` and ``end`` (the first and last evaluation times, ISO
        8601 UTC), then ``settings`` (e.g. ``{"server_label": "instance"}``: names, never secrets).
    """
    owner = "fetched_inputs_record"
    check_args(owner, path=(path, list(_PATH)), url=(url, [Text()]), query=(query, [Text()]),
               settings=(settings, [InstanceOf(Mapping), None]))
    first, last, step_ms = _aligned(owner, start, end, step)
    path = Path(path)
    record = {"file": path.name, "sha256": _sha256(path), "source": "prometheus", "server": redact_url(url),
              "query": query, "step": _format_duration(step_ms), "start": _iso(first), "end": _iso(last)}
    for key, value in (settings or {}).items():
        record.setdefault(str(key), value)
    return record
