"""The whole pipeline in one place: config -> data -> models -> plan.

:func:`run` reads the config (:mod:`capacity.config`) and the data (:mod:`capacity.data`), fits growth
(:mod:`capacity.growth.fit`) and the messaging load (:mod:`capacity.load.messaging`), and plans
(:mod:`capacity.planning.montecarlo`); :func:`replay` reruns it as of past dates. The command line
(:mod:`capacity.cli`), the report (:mod:`capacity.report.html`) and the notebooks all call this module,
so they agree by construction. Nothing below it imports it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from capacity.config import Config, PrometheusSource, load_config
from capacity.data import (
    DELIVERIES_COLUMN,
    MESSAGING_COLUMNS,
    PATH,
    apply_tier_changes,
    attach_apps,
    drop_implausible,
    implausible_apps,
    load_apps,
    load_messaging,
    load_tier_changes,
    read_table,
)
from capacity.errors import ArgumentError, CapacityError, ConfigError, InputDataError
from capacity.validation import (
    Constraint,
    DateLike,
    HasMethods,
    InstanceOf,
    Interval,
    Text,
    check_args,
)

if TYPE_CHECKING:
    import altair as alt

    from capacity.growth.fit import GrowthFit
    from capacity.load.messaging import MessagingModel
    from capacity.planning.projects import Project
    from capacity.planning.result import Plan

__all__ = ["Inputs", "Forecast", "Replay", "read_data", "load_inputs", "run_inputs", "run", "replay",
           "projects_from_config"]

# what the pipeline's entry points take as a config: a path to a TOML file, a loaded Config, or None
_CONFIG = [*PATH, InstanceOf(Config), None]
_PROGRESS = HasMethods("__call__", what="a callable")
_DATA = InstanceOf(tuple)  # (apps, samples) from read_data


_ENDS = {"apps": "app counts", "messaging": "messaging samples"}
_LISTED = 5  # excluded counts named one by one in a note; the rest are counted


def _counts(n: int) -> str:
    return f"{n} app count{'s' if n != 1 else ''}"


def _listed(rows: pd.DataFrame) -> str:
    """Excluded counts as one line: ``2010-09-15 999,999,999; ...`` (the first few, then how many more)."""
    items = [f"{pd.Timestamp(r.date).date()} {r.value:,}" for r in rows.head(_LISTED).itertuples()]
    more = f"; and {len(rows) - _LISTED} more" if len(rows) > _LISTED else ""
    return "; ".join(items) + more + f" ({rows['reason'].iloc[0]})"


def _no_exclusions() -> pd.DataFrame:
    return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype="int64"),
                         "reason": pd.Series(dtype=object)})


@dataclass(frozen=True, eq=False)
class Inputs:
    """The validated inputs as known on ``as_of``.

    Attributes
    ----------
    config : Config
    as_of : Timestamp
        The last day whose data is used (tz-naive UTC).
    apps : DataFrame
        :func:`~capacity.data.load_apps` output up to ``as_of``, without the excluded counts.
    samples : DataFrame
        :func:`~capacity.data.load_messaging` output with an ``apps`` column, up to the end of ``as_of``.
    strategy : str
        Fan-out strategy in force on ``as_of``.
    servers : int
        Messaging servers in service on ``as_of``.
    excluded : DataFrame
        The app counts left out of the fit as implausible (:func:`~capacity.data.implausible_apps`):
        ``date``, ``value``, ``reason``, one row each; empty when there are none or when
        ``data.keep_implausible`` keeps them. Reports show these rows.
    data_age_days : int
        How old the newest data is on ``as_of`` [days]: the larger of ``as_of`` minus the last
        app-count day and ``as_of`` minus the day of the last messaging sample known on ``as_of``
        (0: data up to date).
    data_ends : mapping
        ``{"apps": day, "messaging": day}``: the last app-count day and the day of the last messaging
        sample known on ``as_of`` (before any exclusion).
    """

    config: Config
    as_of: pd.Timestamp
    apps: pd.DataFrame
    samples: pd.DataFrame
    strategy: str
    servers: int
    excluded: pd.DataFrame = field(default_factory=_no_exclusions)
    data_age_days: int = 0
    data_ends: Mapping[str, pd.Timestamp] = field(default_factory=dict)

    def __post_init__(self) -> None:
        frame = [InstanceOf(pd.DataFrame)]
        check_args("Inputs", config=(self.config, [InstanceOf(Config)]),
                   as_of=(self.as_of, [InstanceOf(pd.Timestamp)]), apps=(self.apps, frame),
                   samples=(self.samples, frame), strategy=(self.strategy, [Text()]),
                   servers=(self.servers, [Interval(int, 1, None)]), excluded=(self.excluded, frame),
                   data_age_days=(self.data_age_days, [Interval(int, 0, None)]))

    def notes(self) -> list[str]:
        """One line per thing a reader must know about the inputs: excluded counts, the data's age."""
        lines = []
        if len(self.excluded):
            lines.append(f"excluded {_counts(len(self.excluded))} from the fit as implausible "
                         f"(data.keep_implausible = true keeps them): {_listed(self.excluded)}")
        if self.data_age_days > 0:
            ends = ", ".join(f"{_ENDS[name]} end {day.date()}" for name, day in self.data_ends.items())
            lines.append(f"the newest data is {self.data_age_days} days old on {self.as_of.date()}"
                         + (f" ({ends})" if ends else ""))
        return lines

    def __repr__(self) -> str:
        return (f"Inputs(as_of={self.as_of.date()}, apps={len(self.apps)} days to "
                f"{self.apps.index[-1].date()}, samples={len(self.samples)}, strategy={self.strategy!r}, "
                f"servers={self.servers})")

    def describe(self) -> str:
        """A few lines on what was read, for a terminal."""
        apps = self.apps["apps"]
        last28 = apps.loc[apps.index > self.as_of - pd.Timedelta(days=28)]
        rate = (last28.iloc[-1] - last28.iloc[0]) / max((last28.index[-1] - last28.index[0]).days, 1)
        day = self.samples[self.samples["timestamp"] >= self.as_of]
        cpu = day["cpu_percent"].quantile(0.95) if len(day) else float("nan")
        return "\n".join([
            f"as of {self.as_of.date()}: {apps.iloc[-1]:,} apps, "
            f"growing {rate:,.0f}/day over the last 28 days",
            f"messaging: {self.servers} servers under {self.strategy!r}; "
            f"p95 CPU on {self.as_of.date()}: {cpu:.0f}%",
            f"inputs: {self.config.apps.name} ({len(self.apps):,} days), "
            f"{self.config.messaging.name} ({len(self.samples):,} samples)",
        ])


def read_data(config: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate the config's two inputs in full: (app counts, messaging samples).

    A file input is read with :func:`~capacity.data.load_apps` / :func:`~capacity.data.load_messaging`;
    a Prometheus input (:class:`~capacity.config.PrometheusSource`) is fetched once over its range
    (default: the 3 years up to ``config.as_of``, or up to now) and validated the same way.
    """
    check_args("read_data", config=(config, [InstanceOf(Config)]))
    return _read_apps(config), _read_messaging(config)


def _read_apps(config: Config) -> pd.DataFrame:
    if isinstance(config.apps, PrometheusSource):
        return _fetch(config, "apps", config.apps)
    cols = config.apps_columns
    return load_apps(config.apps, date_col=cols.get("date", "date"), apps_col=cols.get("apps", "apps"),
                     new_apps_col=cols.get("new_apps"))


# stands in for the strategy and server count of a file without them when data.tier_changes gives both
_FROM_CHANGES = {"strategy": "from-tier-changes", "servers": 1}


def _read_messaging(config: Config) -> pd.DataFrame:
    """The messaging samples: a file (with its constant columns and CPU scale) or a Prometheus query,
    then the tier change log (``data.tier_changes``) when the config names one."""
    if isinstance(config.messaging, PrometheusSource):
        samples = _fetch(config, "messaging", config.messaging)
    else:
        mcols = {f"{k}_col" if k != "cpu_percent" else "cpu_col": v
                 for k, v in config.messaging_columns.items()}
        defaults = {**(_FROM_CHANGES if config.tier_changes else {}), **config.messaging_defaults}
        samples = load_messaging(config.messaging, **mcols, defaults=defaults or None,
                                 cpu_scale=config.cpu_scale)
    return samples if config.tier_changes is None else _with_tier_changes(config, samples)


def _with_tier_changes(config: Config, samples: pd.DataFrame) -> pd.DataFrame:
    """Every sample's strategy and server count from the change log, which must start by the first sample."""
    path = config.tier_changes
    found = read_table(path).columns
    missing = [c for c in ("timestamp", "strategy", "servers") if c not in found]
    if missing:
        raise InputDataError(f"{path}: column {missing[0]!r} is missing from the tier changes (columns "
                             f"found: {', '.join(map(repr, found))}); data.tier_changes needs the columns "
                             "timestamp, strategy and servers")
    changes = load_tier_changes(path)
    first_change, first_sample = changes["timestamp"].iloc[0], samples["timestamp"].min()
    if first_sample < first_change:
        raise InputDataError(f"{path}: the first change ({first_change}) comes after the first messaging "
                             f"sample ({first_sample}); start the change log (data.tier_changes) on or "
                             "before it")
    out = apply_tier_changes(samples.drop(columns=["strategy", "servers"]), changes)
    return out[[*MESSAGING_COLUMNS, *([DELIVERIES_COLUMN] if DELIVERIES_COLUMN in samples.columns else [])]]


def _fetch(config: Config, name: str, source: PrometheusSource) -> pd.DataFrame:
    """One input from Prometheus; a bad setting is the config's error, naming the table."""
    from capacity.sources import prometheus
    from capacity.sources.store import source_range

    options = {k: v for k, v in source.options.items() if k not in ("lookback", "start", "end")}
    fetch = prometheus.fetch_apps if name == "apps" else prometheus.fetch_messaging
    try:
        start, end = source_range(source, config.as_of)
        return fetch(source.url, source.query, start=start, end=end, **options)
    except ArgumentError as exc:
        raise ConfigError(f"{config.path}: table 'data.{name}': {exc}") from None


def load_inputs(
    config: Config,
    *,
    as_of: dt.date | None = None,
    data: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> Inputs:
    """Load and validate the config's data, keeping only what was known on ``as_of``.

    Parameters
    ----------
    config : Config
    as_of : date, optional
        Overrides ``config.as_of``; default the last day of the app counts.
    data : (apps, samples), optional
        The output of :func:`read_data`, to slice instead of reading the files again.
    """
    check_args("load_inputs", config=(config, [InstanceOf(Config)]), as_of=(as_of, [DateLike(), None]),
               data=(data, [_DATA, None]))
    apps, samples = data if data is not None else read_data(config)
    as_of = as_of or config.as_of
    day = pd.Timestamp(as_of) if as_of else apps.index[-1]
    if day < apps.index[0]:
        raise InputDataError(f"{config.apps}: as-of date {day.date()} is before the first app count "
                             f"({apps.index[0].date()})")
    apps = apps.loc[:day]
    samples = samples[samples["timestamp"] < day + pd.Timedelta(days=1)]
    ends = {"apps": apps.index[-1]}
    if len(samples):
        ends["messaging"] = samples["timestamp"].max().normalize()
    age = _data_age(config, day, ends)
    excluded = implausible_apps(apps)
    if len(excluded) and not config.keep_implausible:
        apps = drop_implausible(apps, excluded)
    samples = attach_apps(samples, apps)
    if samples.empty:
        raise InputDataError(f"{config.messaging}: no messaging samples on or before {day.date()} "
                             "that fall within the app counts' dates")
    latest = samples[samples["timestamp"] == samples["timestamp"].max()].iloc[0]
    strategy = config.strategy or str(latest["strategy"])
    if config.strategies and strategy not in config.strategies:
        key = "messaging.strategy" if config.strategy else "messaging.strategies"
        raise ConfigError(f"{config.path}: key '{key}': the strategy in force, {strategy!r}, is not "
                          f"defined (defined: {', '.join(config.strategies)}); add a "
                          f"[messaging.strategies.{strategy}] table")
    return Inputs(config=config, as_of=day, apps=apps, samples=samples, strategy=strategy,
                  servers=int(config.servers or latest["servers"]),
                  excluded=_no_exclusions() if config.keep_implausible else _exclusions(excluded),
                  data_age_days=age, data_ends=ends)


def _exclusions(flagged: pd.DataFrame) -> pd.DataFrame:
    """implausible_apps' rows as Inputs.excluded: date, value (int64), reason."""
    out = flagged[["date", "value", "reason"]].reset_index(drop=True)
    return out.astype({"date": "datetime64[ns]", "value": "int64", "reason": object})


def _data_age(config: Config, day: pd.Timestamp, ends: Mapping[str, pd.Timestamp]) -> int:
    """Days from the newest data known on ``day`` to ``day``; beyond data.max_age_days, an error.

    Unless ``data.allow_stale`` (``--allow-stale``) says to plan on old data anyway, the error names
    the older input, its last day, its age and the setting.
    """
    ages = {name: (day - end).days for name, end in ends.items()}
    name = max(ages, key=ages.get)
    if ages[name] > config.max_age_days and not config.allow_stale:
        what = "app count" if name == "apps" else "messaging sample"
        source = config.apps if name == "apps" else config.messaging
        raise InputDataError(
            f"{source}: stale data: the newest {what} ({ends[name].date()}) is {ages[name]} days older than "
            f"the as-of date {day.date()}, more than data.max_age_days = {config.max_age_days}; update the "
            f"data, or plan on it anyway with --allow-stale (data.allow_stale = true)")
    return max(ages[name], 0)


def run_inputs(config: str | Path | Config | None = None, *, as_of: dt.date | None = None) -> Inputs:
    """Load a config (path, object or the sample's default) and its inputs."""
    check_args("run_inputs", config=(config, _CONFIG), as_of=(as_of, [DateLike(), None]))
    if not isinstance(config, Config):
        config = load_config(config)
    return load_inputs(config, as_of=as_of)


def projects_from_config(config: Config, strategies: Iterable[str]) -> list[Project]:
    """The config's ``[[project]]`` entries as planning objects, checked against the strategies."""
    from capacity.planning.projects import Project, SwitchStrategy, effect_from_config

    check_args("projects_from_config", config=(config, [InstanceOf(Config)]),
               strategies=(strategies, [HasMethods("__iter__", what="an iterable of strategy names")]))
    known = list(strategies)
    projects = []
    for i, spec in enumerate(config.projects):
        effect = effect_from_config(spec.effect, spec.value)
        if isinstance(effect, SwitchStrategy) and effect.strategy not in known:
            raise ConfigError(f"{config.path}: key 'project[{i}].effect.strategy' names the unknown strategy "
                              f"{effect.strategy!r} (known: {', '.join(known)})")
        projects.append(Project(spec.name, effect=effect, lead_time=spec.lead_time_days, start=spec.start,
                                land=spec.land, landed=spec.landed))
    return projects


def _limit(config: Config) -> Any:
    from capacity.planning.limits import LatencyLimit

    if "cpu" in config.limit:
        return float(config.limit["cpu"])
    return LatencyLimit(target_ms=config.limit["latency_ms"], service_ms=config.limit["service_ms"],
                        parallelism=config.limit.get("parallelism", 1),
                        quantile=config.limit.get("quantile"))


_GROWTH = HasMethods("paths", "forecast", what="a GrowthFit (fit_growth)")
_LOAD = HasMethods("cpu_percent", "apps_at", what="a MessagingModel (fit_messaging)")
_PLAN = HasMethods("deadlines", "crossing", what="a Plan (capacity.plan)")


@dataclass(frozen=True, eq=False)
class Forecast:
    """Everything one run of the pipeline produced: inputs, fitted models and the plan.

    Parameters
    ----------
    inputs : Inputs
        The validated data as known on the as-of date.
    growth : GrowthFit
        The app-count growth fit (:func:`capacity.fit_growth`).
    load : MessagingModel
        The messaging CPU model (:func:`capacity.fit_messaging`).
    plan : Plan
        Crossing dates and deadlines (:func:`capacity.plan`).
    """

    inputs: Inputs
    growth: GrowthFit
    load: MessagingModel
    plan: Plan

    def __post_init__(self) -> None:
        check_args("Forecast", inputs=(self.inputs, [InstanceOf(Inputs)]), growth=(self.growth, [_GROWTH]),
                   load=(self.load, [_LOAD]), plan=(self.plan, [_PLAN]))

    def __repr__(self) -> str:
        return f"Forecast(as_of={self.inputs.as_of.date()}, {self.plan.headline!r})"

    def summary(self) -> pd.DataFrame:
        """The plan's summary: the crossing and each project's dates.

        See :meth:`capacity.planning.result.Plan.summary`.
        """
        return self.plan.summary()


def _say(progress: Callable[[str], None] | None, text: str) -> None:
    if progress is not None:
        progress(text)


def run(
    config: str | os.PathLike[str] | Config | None = None,
    *,
    as_of: dt.date | str | None = None,
    n_paths: int | None = None,
    progress: Callable[[str], None] | None = None,
    data: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> Forecast:
    """Run the whole pipeline: load, fit growth and messaging load, plan.

    Parameters
    ----------
    config : path or Config, optional
        Planning config (a TOML file or a loaded :class:`~capacity.config.Config`); default the
        sample platform's.
    as_of : date, optional
        Use only data known on this date (overrides the config's ``as_of``): a date, Timestamp or
        ISO 8601 string.
    n_paths : int, optional
        Monte Carlo paths (>= 1; overrides the config's ``forecast.n_paths``).
    progress : callable, optional
        Called with a short message before each slow step (the CLI prints them on stderr).
    data : (apps, samples), optional
        The output of :func:`read_data` (a replay reads the files once).

    Returns
    -------
    Forecast

    Raises
    ------
    ArgumentError
        An argument of the wrong type or out of range.
    ConfigError, InputDataError
        A bad config or data file (naming the file and the key, or the column and row).
    """
    from capacity.growth.fit import fit_growth
    from capacity.load.messaging import fit_messaging
    from capacity.planning.montecarlo import plan

    check_args("run", config=(config, _CONFIG), as_of=(as_of, [DateLike(), None]),
               n_paths=(n_paths, [Interval(int, 1, None), None]), progress=(progress, [_PROGRESS, None]),
               data=(data, [_DATA, None]))
    if not isinstance(config, Config):
        config = load_config(config)
    strategies = _strategies(config)
    _say(progress, "loading data")
    inputs = load_inputs(config, as_of=as_of, data=data)
    for note in inputs.notes():
        _say(progress, note)
    projects = projects_from_config(config, strategies)
    limit = _limit(config)
    _say(progress, f"fitting growth on {len(inputs.apps):,} days of app counts")
    # calibrate the growth intervals at the level whose lower end the must-land dates read
    with _naming(config.apps, "the growth of the app count"):
        growth = fit_growth(inputs.apps, horizon_days=min(config.horizon_days, 365),
                            level=2 * config.confidence - 1, seed=config.seed)
    _say(progress, f"fitting messaging load on {len(inputs.samples):,} samples")
    _check_measurable(config, inputs.samples)
    with _naming(config.messaging, "the messaging load"), _keyed_warnings(config):
        load = fit_messaging(inputs.samples, strategies=strategies, cores_per_server=config.cores_per_server,
                             seed=config.seed)
    _say(progress, "planning")
    watch = _watch(config, load, inputs.servers)
    result = plan(growth, load, strategy=inputs.strategy, servers=inputs.servers,
                  limit=_utilisation_limit(config, limit), projects=projects, confidence=config.confidence,
                  horizon_days=config.horizon_days, n_paths=config.n_paths if n_paths is None else n_paths,
                  seed=config.seed, as_of=inputs.as_of, **watch)
    return Forecast(inputs=inputs, growth=growth, load=load, plan=result)


@contextlib.contextmanager
def _keyed_warnings(config: Config) -> Iterator[None]:
    """Warnings of the messaging fit, re-issued naming the config key they are about: a configured
    fan-out formula that the broker's delivery counts contradict is in ``messaging.strategies``."""
    from capacity.load.fanout import FanoutWarning

    found: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                found = list(caught)
    finally:  # also when the fit fails: what it warned of before is not lost
        for w in found:
            message = str(w.message).removeprefix("fit_messaging: ")
            if issubclass(w.category, FanoutWarning):
                name = message.split(":", 1)[0]
                message = f"{config.path}: key 'messaging.strategies.{name}': {message.split(': ', 1)[-1]}"
            warnings.warn(message, w.category, stacklevel=3)


@contextlib.contextmanager
def _naming(source: Any, what: str) -> Iterator[None]:
    """A model that cannot be fitted to an input is that input's problem: the message names it."""
    import numpy as np

    from capacity.errors import FitError

    try:
        yield
    except (FitError, InputDataError, np.linalg.LinAlgError) as exc:
        if isinstance(exc, ArgumentError) or str(source) in str(exc):
            raise
        raise InputDataError(f"{source}: cannot fit {what} to these data: {exc}") from None


def _check_measurable(config: Config, samples: pd.DataFrame) -> None:
    """Readings pinned at 100% say only that demand was higher: with nothing else the load is unknown."""
    cpu = samples["cpu_percent"]
    if len(cpu) and bool((cpu >= 100).all()):
        raise InputDataError(f"{config.messaging}, column 'cpu_percent': every reading is pinned at 100% "
                             "(saturated), so the load they carry cannot be measured; include readings "
                             "from before the tier saturated")


def _strategies(config: Config) -> dict[str, Any]:
    """The config's fan-out strategies as objects; a bad definition is a ConfigError naming the key."""
    from capacity.load.strategies import strategies_from_config

    if not config.strategies:
        raise ConfigError(f"{config.path}: key 'messaging.strategies' is required: define each fan-out "
                          "strategy named in the data and in the projects")
    try:
        return strategies_from_config(config.strategies)
    except ConfigError as exc:
        raise ConfigError(f"{config.path}: key 'messaging.strategies': {exc}") from None


def _watch(config: Config, load: Any, servers: int) -> dict[str, Any]:
    """plan's metric, metric_quantile, server and spare_servers from ``[limit]``, checked against
    the servers in service and the load's intraday profile (a ConfigError naming the key)."""
    from capacity.planning.limits import Watch

    keys = ("metric", "metric_quantile", "server", "spare_servers")
    options = {k: config.limit[k] for k in keys if k in config.limit}
    watch = Watch(**{"quantile" if k == "metric_quantile" else k: v for k, v in options.items()})
    if watch.spare_servers >= servers:
        raise ConfigError(f"{config.path}: key 'limit.spare_servers' must be less than the {servers} "
                          f"messaging servers in service, not {watch.spare_servers}")
    try:
        watch.factors(load.profile)
    except ArgumentError as exc:
        key = "limit.metric" if watch.metric != "daily_mean" else "limit.server"
        raise ConfigError(f"{config.path}: key '{key}': {str(exc).split(': ', 1)[1]}") from None
    return options


def _utilisation_limit(config: Config, limit: Any) -> float:
    """A latency target as the utilisation that meets it (a CPU limit is one already)."""
    from capacity.planning.limits import LatencyLimit

    if not isinstance(limit, LatencyLimit):
        return limit
    try:
        return limit.utilisation(config.cores_per_server)
    except CapacityError as exc:
        raise ConfigError(f"{config.path}: key 'limit.latency_ms': {exc}") from None


@dataclass(frozen=True, eq=False)
class Replay:
    """The pipeline rerun as of several past dates (returned by :func:`replay`).

    Attributes
    ----------
    table : DataFrame
        Tidy: one row per (as_of, item); item is ``crossing`` (the current set-up) or a project
        name. Columns as_of, item, p10, p50, p90, p_none, must_land_by, must_start_by, p_late,
        at_risk, status.
    first_warning : DataFrame
        Per project, the first as_of date on which it was at risk (NaT: never), the must-land-by
        and the crossing median as seen that day.
    limit : float
        The utilisation limit planned against (fraction, 0..1].
    confidence : float
        The probability the must-land-by dates hold with (0..1).
    """

    table: pd.DataFrame
    first_warning: pd.DataFrame
    limit: float
    confidence: float

    def __post_init__(self) -> None:
        check_args("Replay", table=(self.table, [InstanceOf(pd.DataFrame)]),
                   first_warning=(self.first_warning, [InstanceOf(pd.DataFrame)]),
                   limit=(self.limit, [Interval(float, 0, 1, closed="right")]),
                   confidence=(self.confidence, [Interval(float, 0, 1, closed="neither")]))

    def __repr__(self) -> str:
        dates = self.table["as_of"].drop_duplicates()
        fired = self.first_warning["first_at_risk"].dropna()
        when = fired.min().date() if len(fired) else "never"
        return (f"Replay({len(dates)} dates {dates.min().date()}..{dates.max().date()}, "
                f"first warning {when})")

    def summary(self) -> pd.DataFrame:
        """One row per replay date: the crossing quantiles and how many projects were at risk."""
        crossing = self.table[self.table["item"] == "crossing"].set_index("as_of")
        crossing = crossing[["p10", "p50", "p90", "p_none"]]
        risky = self.table[self.table["item"] != "crossing"].groupby("as_of")["at_risk"].sum()
        return crossing.assign(projects_at_risk=risky.reindex(crossing.index, fill_value=0).astype(int))

    @property
    def warning_date(self) -> pd.Timestamp | None:
        """The first as_of date on which any project was at risk (None: it never fired)."""
        fired = self.first_warning["first_at_risk"].dropna()
        return fired.min() if len(fired) else None

    def chart(self) -> alt.LayerChart:
        """Crossing P10-P90 and each project's must-land-by, as seen on each replay date."""
        from capacity.planning.charts import replay_chart

        return replay_chart(self)


class _Dates(Constraint):
    """Replay dates once gathered into a list: at least one (a bare string is not a list of dates)."""

    def holds(self, value: Any) -> bool:
        return isinstance(value, list) and len(value) > 0

    def __str__(self) -> str:
        return "a non-empty iterable of dates (replay needs at least one as_of date)"


_TABLE_COLUMNS = ["as_of", "item", "p10", "p50", "p90", "p_none", "must_land_by", "must_start_by", "p_late",
                  "at_risk", "status"]
_WARNING_COLUMNS = ["project", "first_at_risk", "must_land_by", "p_late", "crossing_p50"]


def replay(
    config: str | os.PathLike[str] | Config | None = None,
    *,
    as_of: Iterable[Any],
    n_paths: int | None = 500,
    progress: Callable[[str], None] | None = None,
) -> Replay:
    """Rerun the whole pipeline with only the data known on each date: "when would we have known?".

    Parameters
    ----------
    config : path or Config, optional
        Planning config; default the sample platform's.
    as_of : iterable of dates
        The replay dates, at least one (e.g. ``pd.date_range("2010-06-01", "2010-10-26", freq="7D")``);
        each a date, Timestamp or ISO 8601 string. A bare string is refused: it is one date, not a list.
    n_paths : int, optional, default 500
        Monte Carlo paths per date (>= 1; None: the config's).
    progress : callable, optional
        Called with a message per date.

    Returns
    -------
    Replay

    Raises
    ------
    ArgumentError
        An argument of the wrong type or out of range.

    Notes
    -----
    The data are cut at each date, the config is not: a project's ``landed`` date after a replay
    date is read there as a planned landing, which a planner at the time may not have known.
    """
    dates = _replay_dates(as_of)
    check_args("replay", config=(config, _CONFIG), n_paths=(n_paths, [Interval(int, 1, None), None]),
               progress=(progress, [_PROGRESS, None]))
    if not isinstance(config, Config):
        config = load_config(config)
    rows = []
    limit = float("nan")
    data = read_data(config)
    for day in dates:
        _say(progress, f"replaying as of {day.date()}")
        result = run(config, as_of=day.date(), n_paths=n_paths, data=data).plan
        limit = result.limit
        rows.extend(_replay_rows(day, result))
    table = _replay_table(rows)
    return Replay(table=table, first_warning=_first_warning(table, config), limit=limit,
                  confidence=config.confidence)


def _replay_dates(as_of: Any) -> list[pd.Timestamp]:
    """The replay dates, checked one by one, normalised to days and sorted."""
    if pd.api.types.is_datetime64_dtype(getattr(as_of, "dtype", None)):
        as_of = pd.DatetimeIndex(as_of)  # numpy datetime64 values iterate as Timestamps this way
    items = list(as_of) if isinstance(as_of, Iterable) and not isinstance(as_of, str | bytes) else as_of
    check_args("replay", as_of=(items, [_Dates()]))
    check_args("replay", **{f"as_of[{i}]": (d, [DateLike()]) for i, d in enumerate(items)})
    return sorted(pd.Timestamp(d).normalize() for d in items)


def _replay_rows(day: pd.Timestamp, result: Plan) -> list[dict[str, Any]]:
    """One replay date's rows: the crossing, then each project's deadline."""
    c = result.crossing
    rows = [{"as_of": day, "item": "crossing", "p10": c.p10, "p50": c.p50, "p90": c.p90,
             "p_none": c.p_none, "at_risk": False, "status": None}]
    for r in result.deadlines.itertuples():
        rows.append({"as_of": day, "item": r.project, "p10": r.runway_p10, "p50": r.runway_p50,
                     "p90": r.runway_p90, "p_none": r.runway_p_none, "must_land_by": r.must_land_by,
                     "must_start_by": r.must_start_by, "p_late": r.p_late, "at_risk": bool(r.at_risk),
                     "status": r.status})
    return rows


def _replay_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=_TABLE_COLUMNS)
    for column in ("p10", "p50", "p90", "must_land_by", "must_start_by"):
        table[column] = pd.to_datetime(table[column]).astype("datetime64[ns]")
    table["p_late"] = table["p_late"].astype(float)
    return table


def _first_warning(table: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Per project of the config, the first replay date on which it was at risk, and what was seen then."""
    crossing = table[table["item"] == "crossing"].set_index("as_of")
    warnings = []
    for name in [p.name for p in config.projects]:
        mine = table[table["item"] == name]
        risky = mine[mine["at_risk"]]
        first = risky["as_of"].min() if len(risky) else pd.NaT
        row = {"project": name, "first_at_risk": first}
        if len(risky):
            hit = risky.iloc[0]
            row.update(must_land_by=hit["must_land_by"], p_late=hit["p_late"],
                       crossing_p50=crossing.loc[first, "p50"])
        warnings.append(row)
    first_warning = pd.DataFrame(warnings, columns=_WARNING_COLUMNS)
    for column in ("first_at_risk", "must_land_by", "crossing_p50"):
        first_warning[column] = pd.to_datetime(first_warning[column]).astype("datetime64[ns]")
    return first_warning


def stderr_progress(text: str) -> None:
    """Progress on stderr, for slow steps of the command line."""
    print(f"capacity: {text}", file=sys.stderr, flush=True)


