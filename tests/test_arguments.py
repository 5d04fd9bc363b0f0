"""The argument contract: every public function and class refuses a wrong-typed and an out-of-range
argument with one ``capacity.ArgumentError`` that names the argument (capacity.validation)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import capacity
from capacity.errors import ArgumentError, CapacityError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "capacity" / "sample"
AS_OF = pd.Timestamp("2020-01-01")


def _paths(n: int = 20, horizon: int = 400) -> pd.DataFrame:
    dates = pd.date_range(AS_OF + pd.Timedelta(days=1), periods=horizon)
    return pd.DataFrame(np.tile(1000.0 + 10 * np.arange(1, horizon + 1), (n, 1)), columns=dates)


def _load() -> capacity.FixedLoad:
    return capacity.FixedLoad(
        {"u0": 0.0, "a": 0.0, "b": 1e-4}, {"one": capacity.Targeted(k=1)}, cores_per_server=1
    )


def _apps() -> pd.Series:
    days = pd.date_range("2019-01-01", periods=400, name="date")
    return pd.Series(1000.0 + 5 * np.arange(400), index=days, name="apps")


@cache
def _growth() -> capacity.GrowthFit:
    return capacity.fit_growth(_apps(), models=["linear"], n_origins=2)


@cache
def _samples() -> pd.DataFrame:
    frame = capacity.load_messaging(SAMPLE / "messaging.csv")
    apps = capacity.load_apps(SAMPLE / "apps.csv")
    return capacity.attach_apps(frame, apps)


@cache
def _messaging() -> capacity.MessagingModel:
    from capacity.config import load_config
    from capacity.load.strategies import strategies_from_config

    config = load_config(SAMPLE / "plan.toml")
    samples = _samples()
    samples = samples[samples["timestamp"] < "2010-10-20"]
    return capacity.fit_messaging(samples, strategies=strategies_from_config(config.strategies), n_boot=20)


@cache
def _plan() -> capacity.Plan:
    return capacity.plan(_paths(), _load(), strategy="one", servers=1, limit=0.5, horizon_days=400)


@cache
def _usl() -> capacity.USLFit:
    load = np.array([1, 2, 4, 8, 16, 32], dtype=float)
    return capacity.fit_usl(load, capacity.load.usl.usl_throughput(load, 0.05, 0.001, 10.0))


def _project(**kw: Any) -> capacity.Project:
    args = {"effect": capacity.SwitchStrategy("one"), "lead_time": (1, 2, 3)} | kw
    return capacity.Project("p", **args)


# (public name, argument, a call with a wrong-typed value, a call with an out-of-range value)
CASES: list[tuple[str, str, Callable[[], Any], Callable[[], Any]]] = [
    # data
    (
        "load_apps",
        "min_points",
        lambda: capacity.load_apps(SAMPLE / "apps.csv", min_points="10"),
        lambda: capacity.load_apps(SAMPLE / "apps.csv", min_points=0),
    ),
    (
        "load_messaging",
        "cpu_scale",
        lambda: capacity.load_messaging(SAMPLE / "messaging.csv", cpu_scale=1),
        lambda: capacity.load_messaging(SAMPLE / "messaging.csv", cpu_scale="permille"),
    ),
    (
        "load_changes",
        "date_col",
        lambda: capacity.load_changes(SAMPLE / "apps.csv", date_col=3),
        lambda: capacity.load_changes(SAMPLE / "apps.csv", date_col=""),
    ),
    (
        "attach_apps",
        "apps",
        lambda: capacity.attach_apps(_samples().head(), apps=[1, 2]),
        lambda: capacity.attach_apps(_samples().head(), apps=pd.Series(dtype=float)),
    ),
    (
        "daily_percentiles",
        "q",
        lambda: capacity.daily_percentiles(_samples().head(), q="median"),
        lambda: capacity.daily_percentiles(_samples().head(), q=(0.5, 1.5)),
    ),
    (
        "daily_tier_cpu",
        "servers",
        lambda: capacity.daily_tier_cpu(_samples().head(), servers="4"),
        lambda: capacity.daily_tier_cpu(_samples().head(), servers=0),
    ),
    (
        "daily_tier_cpu",
        "metric",
        lambda: capacity.daily_tier_cpu(_samples().head(), metric=1),
        lambda: capacity.daily_tier_cpu(_samples().head(), metric="peak"),
    ),
    (
        "fit_profile",
        "cores_per_server",
        lambda: capacity.fit_profile(_samples(), u0=1.0, cores_per_server="8"),
        lambda: capacity.fit_profile(_samples(), u0=1.0, cores_per_server=0),
    ),
    (
        "Watch",
        "spare_servers",
        lambda: capacity.Watch(spare_servers="1"),
        lambda: capacity.Watch(spare_servers=-1),
    ),
    (
        "apps_from_changes",
        "start",
        lambda: capacity.apps_from_changes(pd.DataFrame({"added": [1]}), start="0"),
        lambda: capacity.apps_from_changes(pd.DataFrame({"added": [1]}), start=-1),
    ),
    # growth
    (
        "fit_growth",
        "horizon_days",
        lambda: capacity.fit_growth(_apps(), horizon_days="180"),
        lambda: capacity.fit_growth(_apps(), horizon_days=0),
    ),
    (
        "fit_growth",
        "models",
        lambda: capacity.fit_growth(_apps(), models=[1]),
        lambda: capacity.fit_growth(_apps(), models=["quadratic"]),
    ),
    ("GrowthFit", "n", lambda: _growth().paths(30, n="10"), lambda: _growth().paths(30, n=0)),
    (
        "GrowthFit",
        "level",
        lambda: _growth().forecast(30, level="0.8"),
        lambda: _growth().forecast(30, level=1.5),
    ),
    # load
    (
        "fit_messaging",
        "n_boot",
        lambda: capacity.fit_messaging(_samples(), strategies={}, n_boot="5"),
        lambda: capacity.fit_messaging(_samples(), strategies={}, n_boot=-1),
    ),
    (
        "MessagingModel",
        "servers",
        lambda: _messaging().cpu_percent(1000, strategy="broadcast", servers="4"),
        lambda: _messaging().cpu_percent(1000, strategy="broadcast", servers=0),
    ),
    (
        "Strategy",
        "apps",
        lambda: capacity.Targeted().deliveries("many"),
        lambda: capacity.Targeted().deliveries(-5),
    ),
    (
        "Broadcast",
        "base_components",
        lambda: capacity.Broadcast(base_components="40"),
        lambda: capacity.Broadcast(base_components=-1),
    ),
    ("Targeted", "k", lambda: capacity.Targeted(k="3"), lambda: capacity.Targeted(k=0)),
    ("Sharded", "shards", lambda: capacity.Sharded(shards=None), lambda: capacity.Sharded(shards=0)),
    (
        "PatternSubscription",
        "scan_cost",
        lambda: capacity.PatternSubscription(scan_cost="x"),
        lambda: capacity.PatternSubscription(scan_cost=-1.0),
    ),
    (
        "fit_usl",
        "load",
        lambda: capacity.fit_usl("1,2,3", [1, 2, 3]),
        lambda: capacity.fit_usl([1, 2, -3], [1, 2, 3]),
    ),
    ("USLFit", "alpha", lambda: _usl().conf_int(alpha="0.05"), lambda: _usl().conf_int(alpha=1.5)),
    (
        "USLPeak",
        "load",
        lambda: capacity.USLPeak(load="8", throughput=1.0),
        lambda: capacity.USLPeak(load=-8.0, throughput=1.0),
    ),
    ("erlang_c", "servers", lambda: capacity.erlang_c("2", 1.0), lambda: capacity.erlang_c(0, 1.0)),
    (
        "utilisation_limit",
        "service_time",
        lambda: capacity.utilisation_limit(10.0, service_time="1"),
        lambda: capacity.utilisation_limit(10.0, service_time=0.0),
    ),
    # planning
    (
        "plan",
        "servers",
        lambda: capacity.plan(_paths(), _load(), strategy="one", servers="4", limit=0.5),
        lambda: capacity.plan(_paths(), _load(), strategy="one", servers=0, limit=0.5),
    ),
    (
        "plan",
        "limit",
        lambda: capacity.plan(_paths(), _load(), strategy="one", servers=1, limit="0.5"),
        lambda: capacity.plan(_paths(), _load(), strategy="one", servers=1, limit=float("nan")),
    ),
    (
        "plan",
        "growth",
        lambda: capacity.plan([1, 2], _load(), strategy="one", servers=1, limit=0.5),
        lambda: capacity.plan(_paths(), _load(), strategy="one", servers=1, limit=0.5, n_paths=0),
    ),
    ("Plan", "before", lambda: capacity.drift("earlier", _plan()), lambda: capacity.drift(None, _plan())),
    ("drift", "after", lambda: capacity.drift(_plan(), 3), lambda: capacity.drift(_plan(), [])),
    (
        "threshold_crossing",
        "threshold",
        lambda: capacity.threshold_crossing(_paths(), "5000"),
        lambda: capacity.threshold_crossing(_paths(), float("inf")),
    ),
    ("Project", "lead_time", lambda: _project(lead_time="3 weeks"), lambda: _project(lead_time=(5, 2, 1))),
    ("LeadTime", "optimistic", lambda: capacity.LeadTime("1", 2, 3), lambda: capacity.LeadTime(-1, 2, 3)),
    ("SwitchStrategy", "strategy", lambda: capacity.SwitchStrategy(3), lambda: capacity.SwitchStrategy("")),
    ("AddServers", "servers", lambda: capacity.AddServers(2.5), lambda: capacity.AddServers(0)),
    ("ScaleCost", "factor", lambda: capacity.ScaleCost("half"), lambda: capacity.ScaleCost(0.0)),
    (
        "LatencyLimit",
        "target_ms",
        lambda: capacity.LatencyLimit("50", 1.0),
        lambda: capacity.LatencyLimit(-5, 1.0),
    ),
    (
        "FixedLoad",
        "cores_per_server",
        lambda: capacity.FixedLoad({"u0": 0, "a": 0, "b": 1}, {}, cores_per_server="8"),
        lambda: capacity.FixedLoad({"u0": 0, "a": 0, "b": 1}, {}, cores_per_server=0),
    ),
    # pipeline, config, report, batch
    ("load_config", "path", lambda: capacity.load_config(3), lambda: capacity.load_config("")),
    (
        "run",
        "n_paths",
        lambda: capacity.run(SAMPLE / "plan.toml", n_paths="500"),
        lambda: capacity.run(SAMPLE / "plan.toml", n_paths=0),
    ),
    ("Forecast", "forecast", lambda: capacity.write_report("forecast"), lambda: capacity.write_report(None)),
    (
        "replay",
        "as_of",
        lambda: capacity.replay(SAMPLE / "plan.toml", as_of="2010-10-01"),
        lambda: capacity.replay(SAMPLE / "plan.toml", as_of=[]),
    ),
    (
        "Replay",
        "as_of",
        lambda: capacity.replay(SAMPLE / "plan.toml", as_of=[3]),
        lambda: capacity.replay(SAMPLE / "plan.toml", as_of=["1500-01-01"]),
    ),
    (
        "write_report",
        "out",
        lambda: capacity.write_report(object(), out=3),
        lambda: capacity.write_report(None, out=""),
    ),
    (
        "fit_growth_many",
        "chunk_size",
        lambda: capacity.fit_growth_many(pd.DataFrame(), chunk_size="2"),
        lambda: capacity.fit_growth_many(pd.DataFrame(), chunk_size=0),
    ),
    (
        "plan_many",
        "n_paths",
        lambda: capacity.plan_many(pd.DataFrame(), threshold=1.0, n_paths="10"),
        lambda: capacity.plan_many(pd.DataFrame(), threshold=1.0, n_paths=0),
    ),
    (
        "read_series_groups",
        "rows_per_read",
        lambda: capacity.read_series_groups(SAMPLE / "apps.csv", id_col="id", columns=[], rows_per_read="9"),
        lambda: capacity.read_series_groups(SAMPLE / "apps.csv", id_col="id", columns=[], rows_per_read=0),
    ),
]

IDS = [f"{name}-{arg}" for name, arg, *_ in CASES]


def _public_callables() -> set[str]:
    """Every public function and class except the exceptions (``capacity.__all__``)."""
    names = set()
    for name in capacity.__all__:
        obj = getattr(capacity, name)
        if inspect.isfunction(obj) or (inspect.isclass(obj) and not issubclass(obj, Exception)):
            names.add(name)
    return names


def test_every_public_function_and_class_is_covered():
    assert _public_callables() - {name for name, *_ in CASES} == set()


@pytest.mark.parametrize(("name", "arg", "wrong_type", "out_of_range"), CASES, ids=IDS)
def test_bad_arguments_raise_argument_error_naming_the_argument(name, arg, wrong_type, out_of_range):
    for call in (wrong_type, out_of_range):
        with pytest.raises(ArgumentError, match=rf"\b{arg}\b") as info:
            call()
        message = str(info.value)
        assert "\n" not in message and len(message) < 300


def test_argument_error_is_a_capacity_value_and_type_error():
    assert issubclass(ArgumentError, CapacityError)
    assert issubclass(ArgumentError, ValueError) and issubclass(ArgumentError, TypeError)
    assert capacity.ArgumentError is ArgumentError


@pytest.mark.parametrize("servers", [0, -1, 2.5, "4", True, None])
def test_plan_refuses_servers_that_are_not_a_positive_integer(servers):
    with pytest.raises(ArgumentError, match=rf"plan: servers must be an integer >= 1, not {servers!r}"):
        capacity.plan(_paths(), _load(), strategy="one", servers=servers, limit=0.5)


def test_a_string_names_one_growth_model():
    fit = capacity.fit_growth(_apps(), models="linear", n_origins=2)
    assert [c.name for c in fit.candidates] == ["linear"]
