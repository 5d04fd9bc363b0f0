"""The planning config: one TOML file that says which data to read and what to plan for.

Every key, its meaning and its default is listed in the README ("The planning config"); this module
is the single place that reads and checks it. A bad config raises :class:`~capacity.errors.ConfigError`
with a one-line message naming the file and the key. Paths inside a config are relative to its folder;
the default config, :data:`DEFAULT_CONFIG`, is the sample platform shipped in the package
(``capacity/sample/plan.toml``), so nothing depends on a repository checkout. :mod:`capacity.pipeline`
turns a :class:`Config` into a plan.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capacity.errors import ConfigError
from capacity.validation import PATH, check_args

__all__ = ["Config", "ProjectSpec", "PrometheusSource", "load_config", "DEFAULT_CONFIG"]

#: the sample platform's config, used when no config is given; shipped in the package so a wheel runs it
DEFAULT_CONFIG = Path(__file__).resolve().parent / "sample" / "plan.toml"


_TOP = {"as_of", "data", "messaging", "limit", "forecast", "project", "report"}
_DATA = {"apps", "messaging", "apps_columns", "messaging_columns"}
# a [data.apps] / [data.messaging] table that reads from a Prometheus HTTP API instead of a file
_SOURCE_COMMON = {"prometheus", "query", "step", "timeout", "retries", "backoff", "max_points",
                  "username_env", "password_env", "token_env", "lookback", "start", "end"}
_SOURCE_KEYS = {"apps": _SOURCE_COMMON | {"new_apps_query", "midnight"},
                "messaging": _SOURCE_COMMON | {"server_label", "strategy_label", "strategy", "servers_label",
                                               "servers", "cpu_scale"}}
_APPS_COLUMNS = {"date", "apps", "new_apps"}
_MESSAGING_COLUMNS = {"timestamp", "server", "cpu_percent", "strategy", "servers"}
_MESSAGING = {"cores_per_server", "strategies", "strategy", "servers"}
_LIMIT = {"cpu", "latency_ms", "service_ms", "quantile", "parallelism"}
_FORECAST = {"confidence", "horizon_days", "n_paths", "seed"}
_REPORT = {"out"}
_PROJECT = {"name", "effect", "lead_time_days", "start", "land", "landed"}
EFFECTS = ("strategy", "add_servers", "cost_factor")


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
    """A checked planning config. Paths are absolute (resolved against the config's folder)."""

    path: Path
    apps: Path | PrometheusSource
    messaging: Path | PrometheusSource
    apps_columns: Mapping[str, str] = field(default_factory=dict)
    messaging_columns: Mapping[str, str] = field(default_factory=dict)
    cores_per_server: int = 8
    strategies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    strategy: str | None = None  # in force now; None = the latest samples' strategy
    servers: int | None = None  # in service now; None = the latest samples' count
    limit: Mapping[str, float] = field(default_factory=lambda: {"cpu": 0.7})
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
        return ConfigError(f"{self.path}: key '{key}' {problem}")

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
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.fail(key, f"must lie in {low}..{high}, not {value!r}")
        return value

    def text(self, table: Mapping[str, Any], name: str, key: str, default: str | None = None) -> Any:
        value = table.get(name, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.fail(key, f"must be a non-empty string, not {value!r}")
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
            "messaging_columns": dict(messaging_columns)}


def _source(r: _Reader, data: Mapping[str, Any], name: str) -> PrometheusSource:
    """``[data.apps]`` / ``[data.messaging]`` as a table: a Prometheus server and a query."""
    key = f"data.{name}"
    table = r.table(data, name, key, _SOURCE_KEYS[name])
    url, query = r.text(table, "prometheus", f"{key}.prometheus"), r.text(table, "query", f"{key}.query")
    for setting, value in (("prometheus", url), ("query", query)):
        if value is None:
            raise r.fail(f"{key}.{setting}", "is required when the input is read from Prometheus")
    if not url.startswith(("http://", "https://")):
        raise r.fail(f"{key}.prometheus", f"must be an http:// or https:// URL, not {url!r}")
    if "@" in url.split("//", 1)[1].split("/", 1)[0]:
        raise r.fail(f"{key}.prometheus", "must not hold credentials: name environment variables in "
                                          "username_env/password_env or token_env")
    options = {k: v for k, v in table.items() if k not in ("prometheus", "query")}
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
        if "kind" not in spec:
            raise r.fail(f"messaging.strategies.{name}.kind", "is required (broadcast, targeted, ...)")
    return messaging, {k: dict(v) for k, v in strategies.items()}


def _limit(r: _Reader, raw: Mapping[str, Any]) -> dict[str, float]:
    """``[limit]``: exactly one of a CPU utilisation or a latency target (with its service time)."""
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
    return checked


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
    """The scalar settings of ``[messaging]``, ``[forecast]`` and ``as_of``, with their defaults."""
    return {
        "cores_per_server": r.number(messaging, "cores_per_server", "messaging.cores_per_server", 8,
                                     low=1, integer=True),
        "strategy": r.text(messaging, "strategy", "messaging.strategy"),
        "servers": r.number(messaging, "servers", "messaging.servers", None, low=1, integer=True),
        "confidence": r.number(forecast, "confidence", "forecast.confidence", 0.9, low=0.5, high=0.999),
        "horizon_days": r.number(forecast, "horizon_days", "forecast.horizon_days", 365, low=7,
                                 high=3650, integer=True),
        "n_paths": r.number(forecast, "n_paths", "forecast.n_paths", 2000, low=100, high=100_000,
                            integer=True),
        "seed": r.number(forecast, "seed", "forecast.seed", 0, low=0, integer=True),
        "as_of": r.date(raw, "as_of", "as_of"),
    }


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
            or not 0 <= lead[0] <= lead[1] <= lead[2]):
        raise r.fail(f"{key}.lead_time_days",
                     f"must be [optimistic, likely, pessimistic] days with 0 <= o <= m <= p, not {lead!r}")
    dates = {d: r.date(entry, d, f"{key}.{d}") for d in ("start", "land", "landed")}
    if sum(v is not None for v in dates.values()) > 1:
        raise r.fail(key, "may give at most one of 'start', 'land' (planned) and 'landed' (done)")
    return ProjectSpec(name=name.strip(), effect=kind, value=value,
                       lead_time_days=(float(lead[0]), float(lead[1]), float(lead[2])), **dates)
