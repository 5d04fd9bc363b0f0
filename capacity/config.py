"""The planning config: one TOML file that says which data to read and what to plan for.

Every key, its meaning and its default is listed in the README ("The planning config"); this module
is the single place that reads and checks it. A bad config raises :class:`~capacity.errors.ConfigError`
with a one-line message naming the file and the key. The default config, :data:`DEFAULT_CONFIG`, is
the sample platform shipped in the package (``capacity/sample/plan.toml``), so nothing depends on a
repository checkout. :mod:`capacity.pipeline` turns a :class:`Config` into a plan.

Paths
-----
One rule for every path: a path written **in a config** (``data.apps``, ``data.messaging``,
``data.tier_changes``, ``report.out``) is relative to the config file's folder; a path given **on
the command line** (``--config``, ``--out``, ``--inputs``, ``--input``) is relative to the working
directory. With neither ``report.out`` nor ``--out``, reports go to :data:`DEFAULT_REPORTS`,
``reports/`` in the working directory.

Names
-----
Every name in a config (project names, strategy names and kinds, column names, labels, paths) is a
non-empty string without control characters: names end up in charts, files and reports, and a
control character can abort the SVG renderer. One is refused naming the key.

Sizes
-----
``forecast.horizon_days`` (7..3650) and ``forecast.n_paths`` (100..100,000) are bounded, and so is
their product: :func:`check_memory` refuses a plan whose paths x days would need more than
:data:`MEMORY_BUDGET` (4 GiB), estimated at :data:`PLAN_BYTES_PER_PATH_DAY` bytes per path and day.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capacity.errors import ConfigError
from capacity.validation import PATH, check_args

__all__ = ["Config", "ProjectSpec", "PrometheusSource", "load_config", "check_memory", "bounded",
           "DEFAULT_CONFIG", "DEFAULT_REPORTS", "MEMORY_BUDGET", "PLAN_BYTES_PER_PATH_DAY",
           "MAX_HORIZON_DAYS", "MAX_PATHS", "MAX_AGE_DAYS"]

#: the sample platform's config, used when no config is given; shipped in the package so a wheel runs it
DEFAULT_CONFIG = Path(__file__).resolve().parent / "sample" / "plan.toml"
#: where reports go with neither ``report.out`` nor ``--out``: relative to the working directory
DEFAULT_REPORTS = Path("reports")

#: the most memory a run may plan for [bytes]; a larger estimate is refused before any work is done
MEMORY_BUDGET = 4 * 2**30
#: memory of one plan per simulated path and horizon day [bytes]: the plan holds about 14 float64 arrays
#: of paths x days (measured on the sample: 20,000 paths x 1,095 days peak at 2.5 GB), rounded up to 16
PLAN_BYTES_PER_PATH_DAY = 16 * 8
#: the longest ``forecast.horizon_days`` (a decade) and the most ``forecast.n_paths``
MAX_HORIZON_DAYS, MAX_PATHS = 3650, 100_000
#: the default ``data.max_age_days``: how old the newest data may be on the as-of date [days]
MAX_AGE_DAYS = 21


_TOP = {"as_of", "data", "messaging", "limit", "forecast", "project", "report"}
_DATA = {"apps", "messaging", "apps_columns", "messaging_columns", "messaging_defaults", "cpu_scale",
         "tier_changes", "keep_implausible", "max_age_days", "allow_stale"}
# a [data.apps] / [data.messaging] table that reads from a Prometheus HTTP API instead of a file
_SOURCE_COMMON = {"prometheus", "query", "step", "timeout", "retries", "backoff", "max_points",
                  "username_env", "password_env", "token_env", "lookback", "start", "end"}
_SOURCE_KEYS = {"apps": _SOURCE_COMMON | {"new_apps_query", "midnight"},
                "messaging": _SOURCE_COMMON | {"server_label", "strategy_label", "strategy", "servers_label",
                                               "servers", "cpu_scale", "deliveries_query"}}
_APPS_COLUMNS = {"date", "apps", "new_apps"}
_MESSAGING_COLUMNS = {"timestamp", "server", "cpu_percent", "strategy", "servers", "deliveries"}
_MESSAGING_DEFAULTS = {"server", "strategy", "servers"}
_CPU_SCALES = ("percent", "fraction")
_MESSAGING = {"cores_per_server", "strategies", "strategy", "servers"}
_LIMIT = {"cpu", "latency_ms", "service_ms", "quantile", "parallelism", "metric", "metric_quantile", "server",
          "spare_servers"}
_FORECAST = {"confidence", "horizon_days", "n_paths", "seed"}
_REPORT = {"out"}
_PROJECT = {"name", "effect", "lead_time_days", "start", "land", "landed"}
EFFECTS = ("strategy", "add_servers", "cost_factor")
#: the longest lead time a project may have [days]: beyond ten years it is not a plan (nan/inf are refused)
MAX_LEAD_DAYS = 3650


@dataclass(frozen=True)
class ProjectSpec:
    """One ``[[project]]`` entry, checked but not yet turned into a planning object."""

    name: str
    effect: str  # one of EFFECTS
    value: Any  # strategy name, servers to add, or cost factor
    lead_time_days: tuple[float, float, float]
    start: dt.date | None = None
    land: dt.date | None = None
    landed: dt.date | None = None


@dataclass(frozen=True)
class PrometheusSource:
    """A ``[data.apps]`` or ``[data.messaging]`` table: the input read from a Prometheus HTTP API.

    ``options`` are the keyword arguments of :func:`capacity.sources.prometheus.fetch_apps` (or
    ``fetch_messaging``), e.g. ``step``, ``server_label``, ``token_env``; ``lookback``, ``start`` and
    ``end`` choose the range (default: the 3 years up to the as-of date, or up to now).
    """

    url: str
    query: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """How messages and reports name this input (the server without credentials, and the query)."""
        from capacity.sources.prometheus import redact_url

        return f"Prometheus {redact_url(self.url)}, query {self.query!r}"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Config:
    """A checked planning config. Paths are absolute (resolved against the config's folder).

    ``path`` is the config file as given (relative to the working directory if it was). The
    ``[data]`` settings ``messaging_defaults`` (constant ``server``, ``strategy``, ``servers`` for
    columns a messaging file lacks), ``cpu_scale`` ("percent" or "fraction"), ``tier_changes`` (a
    change log of strategy and server count), ``keep_implausible`` (use implausible app counts
    instead of excluding them), ``max_age_days`` and ``allow_stale`` (how old the newest data may be
    on the as-of date, and whether older data is used anyway) are documented in the README.
    """

    path: Path
    apps: Path | PrometheusSource
    messaging: Path | PrometheusSource
    apps_columns: Mapping[str, str] = field(default_factory=dict)
    messaging_columns: Mapping[str, str] = field(default_factory=dict)
    messaging_defaults: Mapping[str, Any] = field(default_factory=dict)
    cpu_scale: str = "percent"
    tier_changes: Path | None = None
    keep_implausible: bool = False
    max_age_days: int = MAX_AGE_DAYS
    allow_stale: bool = False
    cores_per_server: int = 8
    strategies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    strategy: str | None = None  # in force now; None = the latest samples' strategy
    servers: int | None = None  # in service now; None = the latest samples' count
    limit: Mapping[str, Any] = field(default_factory=lambda: {"cpu": 0.7})
    confidence: float = 0.9
    horizon_days: int = 365
    n_paths: int = 2000
    seed: int = 0
    as_of: dt.date | None = None
    projects: tuple[ProjectSpec, ...] = ()
    out: Path | None = None


class _Reader:
    """Typed look-ups into the parsed TOML that fail with the file and dotted key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: key '{_printable(key)}' {problem}")

    def table(self, parent: Mapping[str, Any], name: str, key: str, allowed: set[str]) -> dict:
        value = parent.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, not {type(value).__name__}")
        for unknown in sorted(set(value) - allowed):
            raise self.fail(f"{key}.{unknown}" if key else unknown,
                            f"is not a known setting (known: {', '.join(sorted(allowed))})")
        return value

    def number(self, table: Mapping[str, Any], name: str, key: str, default: Any, *,
               low: float | None = None, high: float | None = None, integer: bool = False) -> Any:
        value = table.get(name, default)
        if value is None:
            return None
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise self.fail(key, f"must be {'a whole number' if integer else 'a number'}, not {value!r}")
        if not math.isfinite(value):  # nan and inf pass every range comparison below
            raise self.fail(key, f"must be a finite number, not {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.fail(key, f"must lie in {low}..{high}, not {value!r}")
        return value

    def text(self, table: Mapping[str, Any], name: str, key: str, default: str | None = None, *,
             multiline: bool = False) -> Any:
        """A non-empty string without control characters (``multiline``: tabs and newlines allowed)."""
        value = table.get(name, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.fail(key, f"must be a non-empty string, not {value!r}")
        if value is not None and _control(value, multiline):
            raise self.fail(key, f"must not contain control characters ({_control(value, multiline)!r}), "
                                 f"not {value!r}")
        return value

    def flag(self, table: Mapping[str, Any], name: str, key: str) -> bool:
        """``true`` or ``false`` (default false)."""
        value = table.get(name, False)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value

    def date(self, table: Mapping[str, Any], name: str, key: str) -> dt.date | None:
        value = table.get(name)
        if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
            return value
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise self.fail(key, f"must be a date like 2010-10-27, not {value!r}")


def _control(text: str, multiline: bool = False) -> str:
    """The first control character of ``text`` ('' if none); ``multiline`` allows tab, CR and LF."""
    allowed = "\t\n\r" if multiline else ""
    return next((c for c in text if (ord(c) < 32 or 127 <= ord(c) < 160) and c not in allowed), "")


def _printable(key: str) -> str:
    """A key as a message shows it: control characters escaped, so the message stays one line."""
    return "".join(repr(c)[1:-1] if _control(c) else c for c in key)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and check a planning config.

    Parameters
    ----------
    path : str or PathLike, optional
        The TOML file (not ``''``); default :data:`DEFAULT_CONFIG` (the sample platform, shipped in
        the package). Relative paths inside it are resolved against its folder.

    Returns
    -------
    Config

    Raises
    ------
    ArgumentError
        ``path`` is not a path.
    ConfigError
        Unreadable or malformed file, unknown or missing key, or a value of the wrong kind; the
        message names the file and the key.
    """
    check_args("load_config", path=(path, [*PATH, None]))
    path = Path(path) if path is not None else DEFAULT_CONFIG
    raw = _read_toml(path)
    r = _Reader(path)
    r.table({"": raw}, "", "", _TOP)
    base = path.resolve().parent
    # each step checks its own tables; they run in file order so the first error reported stays the same
    data = _data(r, raw, base)
    messaging, strategies = _messaging(r, raw)
    limit = _limit(r, raw)
    forecast = r.table(raw, "forecast", "forecast", _FORECAST)
    report = r.table(raw, "report", "report", _REPORT)
    out = r.text(report, "out", "report.out")
    projects = _projects(r, raw)
    return Config(path=path, **data, strategies=strategies, limit=limit, projects=projects,
                  out=(base / out).resolve() if out else None, **_settings(r, raw, messaging, forecast))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.__class__.__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML ({exc})") from None


def _data(r: _Reader, raw: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """``[data]``: the two input files (absolute) and their column names."""
    data = r.table(raw, "data", "data", _DATA)
    files = {}
    for name in ("apps", "messaging"):
        if isinstance(data.get(name), dict):
            files[name] = _source(r, data, name)
            continue
        value = r.text(data, name, f"data.{name}")
        if value is None:
            raise r.fail(f"data.{name}", "is required (the input file, relative to the config, or a table "
                                         "with prometheus and query)")
        files[name] = (base / value).resolve()
    apps_columns = r.table(data, "apps_columns", "data.apps_columns", _APPS_COLUMNS)
    messaging_columns = r.table(data, "messaging_columns", "data.messaging_columns", _MESSAGING_COLUMNS)
    for table, key in ((apps_columns, "data.apps_columns"), (messaging_columns, "data.messaging_columns")):
        for name in table:
            r.text(table, name, f"{key}.{name}")
    return {"apps": files["apps"], "messaging": files["messaging"], "apps_columns": dict(apps_columns),
            "messaging_columns": dict(messaging_columns), **_trace(r, data, base, files["messaging"]),
            "keep_implausible": r.flag(data, "keep_implausible", "data.keep_implausible"),
            "max_age_days": r.number(data, "max_age_days", "data.max_age_days", MAX_AGE_DAYS, low=0,
                                     high=36_500, integer=True),
            "allow_stale": r.flag(data, "allow_stale", "data.allow_stale")}


def _trace(r: _Reader, data: Mapping[str, Any], base: Path, messaging: Any) -> dict[str, Any]:
    """What makes a plain CPU trace usable: constant columns, the CPU scale and a tier change log.

    ``[data.messaging_defaults]`` (``server``, ``strategy``, ``servers``) and ``data.cpu_scale`` apply
    to a messaging file (a Prometheus table has its own ``strategy``, ``servers`` and ``cpu_scale``);
    ``data.tier_changes`` names a change log (relative to the config) that gives the strategy and the
    server count of every sample, so it excludes constant ones.
    """
    defaults = r.table(data, "messaging_defaults", "data.messaging_defaults", _MESSAGING_DEFAULTS)
    for name in ("server", "strategy"):
        r.text(defaults, name, f"data.messaging_defaults.{name}")
    r.number(defaults, "servers", "data.messaging_defaults.servers", None, low=1, high=10**6, integer=True)
    scale = r.text(data, "cpu_scale", "data.cpu_scale", "percent")
    if scale not in _CPU_SCALES:
        raise r.fail("data.cpu_scale", f"must be one of {', '.join(map(repr, _CPU_SCALES))}, not {scale!r}")
    if isinstance(messaging, PrometheusSource):
        given = {"data.messaging_defaults": bool(defaults), "data.cpu_scale": "cpu_scale" in data}
        for key in [k for k, v in given.items() if v]:
            raise r.fail(key, "applies to a messaging file; a [data.messaging] Prometheus table takes "
                              "strategy, servers and cpu_scale itself")
    changes = r.text(data, "tier_changes", "data.tier_changes")
    for name in ("strategy", "servers"):
        if changes is not None and name in defaults:
            raise r.fail(f"data.messaging_defaults.{name}", "cannot be given with data.tier_changes: the "
                                                            f"change log gives the {name} of every sample")
    return {"messaging_defaults": dict(defaults), "cpu_scale": scale,
            "tier_changes": (base / changes).resolve() if changes else None}


def _source(r: _Reader, data: Mapping[str, Any], name: str) -> PrometheusSource:
    """``[data.apps]`` / ``[data.messaging]`` as a table: a Prometheus server and a query."""
    key = f"data.{name}"
    table = r.table(data, name, key, _SOURCE_KEYS[name])
    url = r.text(table, "prometheus", f"{key}.prometheus")
    query = r.text(table, "query", f"{key}.query", multiline=True)  # PromQL may span lines
    for setting, value in (("prometheus", url), ("query", query)):
        if value is None:
            raise r.fail(f"{key}.{setting}", "is required when the input is read from Prometheus")
    if not url.startswith(("http://", "https://")):
        raise r.fail(f"{key}.prometheus", f"must be an http:// or https:// URL, not {url!r}")
    if "@" in url.split("//", 1)[1].split("/", 1)[0]:
        raise r.fail(f"{key}.prometheus", "must not hold credentials: name environment variables in "
                                          "username_env/password_env or token_env")
    options = {k: v for k, v in table.items() if k not in ("prometheus", "query")}
    for setting, value in options.items():
        if isinstance(value, str):
            r.text(options, setting, f"{key}.{setting}")
    for setting in ("step", "lookback", "start", "end"):
        if setting in options and not isinstance(options[setting], str | int | float | dt.date):
            raise r.fail(f"{key}.{setting}", f"must be a duration or date, not {options[setting]!r}")
    return PrometheusSource(url=url, query=query, options=options)


def _messaging(r: _Reader, raw: Mapping[str, Any]) -> tuple[dict, dict[str, dict[str, Any]]]:
    """``[messaging]``: the table itself (its numbers are read later) and the strategy definitions."""
    messaging = r.table(raw, "messaging", "messaging", _MESSAGING)
    strategies = messaging.get("strategies", {})
    if not isinstance(strategies, dict) or not all(isinstance(v, dict) for v in strategies.values()):
        raise r.fail("messaging.strategies", "must be a table of tables, one per strategy name")
    for name, spec in strategies.items():
        if _control(name):
            raise r.fail(f"messaging.strategies.{name}", "names a strategy with a control character "
                                                         f"({_control(name)!r}): {name!r}")
        if "kind" not in spec:
            raise r.fail(f"messaging.strategies.{name}.kind", "is required (broadcast, targeted, ...)")
        for setting, value in spec.items():
            if isinstance(value, str):
                r.text(spec, setting, f"messaging.strategies.{name}.{setting}")
    return messaging, {k: dict(v) for k, v in strategies.items()}


def _limit(r: _Reader, raw: Mapping[str, Any]) -> dict[str, Any]:
    """``[limit]``: exactly one of a CPU utilisation or a latency target (with its service time), and
    what must stay under it (metric, server, spare servers)."""
    limit = r.table(raw, "limit", "limit", _LIMIT)
    if not limit:
        limit = {"cpu": 0.7}
    if ("cpu" in limit) == ("latency_ms" in limit):
        raise r.fail("limit", "needs exactly one of 'cpu' (a utilisation 0..1) or 'latency_ms'")
    checked = {}
    for name, low, high in (("cpu", 0.01, 1.0), ("latency_ms", 0.0, None), ("service_ms", 0.0, None),
                            ("quantile", 0.0, 0.9999), ("parallelism", 1, None)):
        value = r.number(limit, name, f"limit.{name}", None, low=low, high=high,
                         integer=name == "parallelism")
        if value is not None:
            checked[name] = value
    if "latency_ms" in checked and "service_ms" not in checked:
        raise r.fail("limit.service_ms", "is required with limit.latency_ms (mean service time, ms)")
    return {**checked, **_watched(r, limit)}


def _watched(r: _Reader, limit: Mapping[str, Any]) -> dict[str, Any]:
    """``limit.metric``, ``limit.metric_quantile``, ``limit.server`` and ``limit.spare_servers``."""
    metric = r.text(limit, "metric", "limit.metric", "daily_mean")
    server = r.text(limit, "server", "limit.server", "average")
    from capacity.load.profile import METRICS, SERVERS

    for key, value, allowed in (("metric", metric, METRICS), ("server", server, SERVERS)):
        if value not in allowed:
            raise r.fail(f"limit.{key}", f"must be one of {', '.join(allowed)}, not {value!r}")
    quantile = r.number(limit, "metric_quantile", "limit.metric_quantile", None, low=0.01, high=0.99)
    if (metric == "quantile") != (quantile is not None):
        raise r.fail("limit.metric_quantile", "is required with limit.metric = \"quantile\" (a quantile of "
                     "the day's hours, e.g. 0.95) and only with it")
    spare = r.number(limit, "spare_servers", "limit.spare_servers", 0, low=0, high=1000, integer=True)
    return {"metric": metric, "metric_quantile": quantile, "server": server, "spare_servers": spare}


def _projects(r: _Reader, raw: Mapping[str, Any]) -> tuple[ProjectSpec, ...]:
    """``[[project]]``: each entry checked, names unique."""
    projects = raw.get("project", [])
    if not isinstance(projects, list):
        raise r.fail("project", "must be an array of tables: [[project]]")
    specs = tuple(_project(r, entry, i) for i, entry in enumerate(projects))
    names = [p.name for p in specs]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise r.fail(f"project[{i}].name", f"repeats the project name {name!r}")
    return specs


def _settings(r: _Reader, raw: Mapping[str, Any], messaging: Mapping[str, Any],
              forecast: Mapping[str, Any]) -> dict[str, Any]:
    """The scalar settings of ``[messaging]``, ``[forecast]`` and ``as_of``, with their defaults.

    The horizon and the paths are bounded one by one and, through :func:`check_memory`, together.
    """
    settings = {
        "cores_per_server": r.number(messaging, "cores_per_server", "messaging.cores_per_server", 8,
                                     low=1, integer=True),
        "strategy": r.text(messaging, "strategy", "messaging.strategy"),
        "servers": r.number(messaging, "servers", "messaging.servers", None, low=1, integer=True),
        "confidence": r.number(forecast, "confidence", "forecast.confidence", 0.9, low=0.5, high=0.999),
        "horizon_days": r.number(forecast, "horizon_days", "forecast.horizon_days", 365, low=7,
                                 high=MAX_HORIZON_DAYS, integer=True),
        "n_paths": r.number(forecast, "n_paths", "forecast.n_paths", 2000, low=100, high=MAX_PATHS,
                            integer=True),
        "seed": r.number(forecast, "seed", "forecast.seed", 0, low=0, integer=True),
        "as_of": r.date(raw, "as_of", "as_of"),
    }
    check_memory(settings["n_paths"], settings["horizon_days"], paths="forecast.n_paths",
                 days="forecast.horizon_days", where=f"{r.path}: keys")
    return settings


def bounded(value: int, option: str, low: int, high: int) -> int:
    """``value`` if it lies in ``low..high``; else a ConfigError naming the option and the limits.

    For size options of the command line (``--paths``, ``--horizon-days``, ...), checked before any work.

    Parameters
    ----------
    value : int
        What the option was given.
    option : str
        The option, as the message names it (``--paths``).
    low, high : int
        The bounds, both included.

    Returns
    -------
    int

    Raises
    ------
    ConfigError
        ``value`` outside the bounds (the command exits 2).
    """
    if not low <= value <= high:
        raise ConfigError(f"{option} must be a whole number in {low:,}..{high:,}, not {value}")
    return value


def check_memory(n_paths: int, horizon_days: int, *, paths: str = "n_paths", days: str = "horizon_days",
                 where: str = "", bytes_per_path_day: int = PLAN_BYTES_PER_PATH_DAY, copies: int = 1,
                 copies_name: str = "") -> None:
    """Refuse, before any work, a simulation whose paths x days would need more than :data:`MEMORY_BUDGET`.

    Parameters
    ----------
    n_paths, horizon_days : int
        The simulated paths and days (>= 0).
    paths, days : str
        How the message names the two values: config keys (``forecast.n_paths``) or options (``--paths``).
    where : str, optional
        What the message starts with (e.g. the config file).
    bytes_per_path_day : int, default :data:`PLAN_BYTES_PER_PATH_DAY`
        Memory per path and day [bytes] of the computation checked.
    copies : int, default 1
        How many such simulations run at once (e.g. worker processes), named by ``copies_name``.

    Raises
    ------
    ConfigError
        The estimate, n_paths x horizon_days x bytes_per_path_day x copies, exceeds the budget; the
        message names both values, the estimate, the budget and the most paths that fit.
    """
    need = n_paths * horizon_days * bytes_per_path_day * copies
    if need <= MEMORY_BUDGET:
        return
    fit = MEMORY_BUDGET // (horizon_days * bytes_per_path_day * copies)
    times = f" x {copies_name} = {copies:,}" if copies > 1 else ""
    start = f"{where} " if where else ""
    raise ConfigError(f"{start}'{paths}' = {n_paths:,} x '{days}' = {horizon_days:,}{times} would need about "
                      f"{need / 2**30:,.1f} GiB ({bytes_per_path_day} bytes per path and day), more than the "
                      f"{MEMORY_BUDGET // 2**30} GiB budget; at this horizon use at most {fit:,} paths")


def _project(r: _Reader, entry: Any, i: int) -> ProjectSpec:
    key = f"project[{i}]"
    if not isinstance(entry, dict):
        raise r.fail(key, "must be a table")
    r.table({"p": entry}, "p", key, _PROJECT)
    name = r.text(entry, "name", f"{key}.name")
    if name is None:
        raise r.fail(f"{key}.name", "is required")
    effect = entry.get("effect")
    if not isinstance(effect, dict) or len(effect) != 1:
        raise r.fail(f"{key}.effect", "must be a table with one of "
                     + ", ".join(f"{e} = ..." for e in EFFECTS) + f", not {effect!r}")
    (kind, value), = effect.items()
    if kind not in EFFECTS:
        raise r.fail(f"{key}.effect.{kind}", f"is not a known project effect (known: {', '.join(EFFECTS)})")
    if kind == "strategy":
        r.text(effect, kind, f"{key}.effect.strategy")
    elif kind == "add_servers":
        r.number(effect, kind, f"{key}.effect.add_servers", None, low=1, integer=True)
    else:
        r.number(effect, kind, f"{key}.effect.cost_factor", None, low=1e-6, high=10)
    lead = entry.get("lead_time_days")
    if (not isinstance(lead, list) or len(lead) != 3
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in lead)
            or not 0 <= lead[0] <= lead[1] <= lead[2] <= MAX_LEAD_DAYS):
        raise r.fail(f"{key}.lead_time_days",
                     f"must be [optimistic, likely, pessimistic] days with 0 <= o <= m <= p <= "
                     f"{MAX_LEAD_DAYS:,}, not {lead!r}")
    dates = {d: r.date(entry, d, f"{key}.{d}") for d in ("start", "land", "landed")}
    if sum(v is not None for v in dates.values()) > 1:
        raise r.fail(key, "may give at most one of 'start', 'land' (planned) and 'landed' (done)")
    return ProjectSpec(name=name.strip(), effect=kind, value=value,
                       lead_time_days=(float(lead[0]), float(lead[1]), float(lead[2])), **dates)
