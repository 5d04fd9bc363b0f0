"""Planning on what fails: the busiest hour, the hottest server, spare servers (capacity.planning.Watch)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from capacity.errors import ArgumentError
from capacity.load.profile import LoadProfile
from capacity.load.strategies import Targeted
from capacity.planning.limits import FixedLoad, Watch
from capacity.planning.montecarlo import plan
from capacity.planning.projects import AddServers, Project, SwitchStrategy

AS_OF = pd.Timestamp("2020-01-01")
HOURS = pd.RangeIndex(24, name="hour")
# the load above background peaks 20 % above the day's mean at 21:00; msg-1 carries 10 % more
PROFILE = LoadProfile(hourly=pd.Series(1 + 0.2 * np.sin(2 * np.pi * (np.arange(24) - 15) / 24), index=HOURS),
                      shares=pd.Series([1.1, 0.95, 0.95], index=["msg-1", "msg-2", "msg-3"]), days=60,
                      first=AS_OF - pd.Timedelta(days=59), last=AS_OF)
STRATEGIES = {"one": Targeted(k=1), "half": Targeted(k=0.5)}
LOAD = FixedLoad({"u0": 1.0, "a": 0.0, "b": 5e-4}, STRATEGIES, cores_per_server=4, profile=PROFILE)


def paths(n: int = 50, horizon: int = 2000, *, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range(AS_OF + pd.Timedelta(days=1), periods=horizon)
    rates = rng.uniform(10, 20, size=(n, 1))
    return pd.DataFrame(1000 + rates * np.arange(1, horizon + 1), columns=dates)


def crossing_day(result) -> int:
    return (result.crossing.p50 - AS_OF).days


def test_spare_servers_plan_the_tier_with_that_many_servers_fewer():
    roadmap = [Project("more", effect=AddServers(2), lead_time=(10, 20, 40),
                       land=AS_OF + pd.Timedelta(days=150)),
               Project("targeted", effect=SwitchStrategy("half"), lead_time=(30, 60, 90))]
    kwargs = dict(strategy="one", limit=0.8, horizon_days=2000, projects=roadmap, seed=3)
    spare = plan(paths(), LOAD, servers=4, spare_servers=1, metric="busiest_hour", server="hottest", **kwargs)
    fewer = plan(paths(), LOAD, servers=3, metric="busiest_hour", server="hottest", **kwargs)
    np.testing.assert_array_equal(spare.crossing_days, fewer.crossing_days)
    pd.testing.assert_frame_equal(spare.deadlines, fewer.deadlines)
    pd.testing.assert_frame_equal(spare.utilisation, fewer.utilisation)
    assert spare.watch.spare_servers == 1 and "1 server out of service" in spare.headline


def test_the_busiest_hour_is_the_daily_mean_at_the_equivalent_limit():
    """With known costs, watching the busiest hour at L is watching the daily mean at the limit whose
    load above background, times the profile's peak, reaches L."""
    busiest = plan(paths(), LOAD, strategy="one", servers=3, limit=0.8, horizon_days=2000,
                   metric="busiest_hour")
    equivalent = Watch(metric="busiest_hour").daily_mean_limit(0.8, load=LOAD, servers=3)
    peak = PROFILE.factor("busiest_hour")
    assert equivalent == pytest.approx((1.0 + (0.8 * 12 - 1.0) / peak) / 12)
    mean = plan(paths(), LOAD, strategy="one", servers=3, limit=equivalent, horizon_days=2000)
    np.testing.assert_array_equal(busiest.crossing_days, mean.crossing_days)
    assert crossing_day(busiest) < crossing_day(plan(paths(), LOAD, strategy="one", servers=3, limit=0.8,
                                                     horizon_days=2000))


def test_metrics_and_servers_order_the_crossings():
    days = {}
    for name, options in {"mean": {}, "q75": {"metric": "quantile", "metric_quantile": 0.75},
                          "busiest": {"metric": "busiest_hour"},
                          "hottest": {"metric": "busiest_hour", "server": "hottest"}}.items():
        result = plan(paths(), LOAD, strategy="one", servers=3, limit=0.8, horizon_days=2000, **options)
        days[name] = crossing_day(result)
    assert days["mean"] > days["q75"] > days["busiest"] > days["hottest"]


def test_the_default_watch_is_the_daily_mean_of_the_average_server():
    result = plan(paths(), LOAD, strategy="one", servers=3, limit=0.8, horizon_days=2000)
    assert result.watch == Watch()
    assert result.headline.startswith("Messaging CPU (the daily mean of the average server) crosses 80%")
    # the same without any profile
    bare = FixedLoad(LOAD.params, STRATEGIES, cores_per_server=4)
    np.testing.assert_array_equal(
        plan(paths(), bare, strategy="one", servers=3, limit=0.8, horizon_days=2000).crossing_days,
        result.crossing_days)


def test_watch_options_are_checked():
    bare = FixedLoad(LOAD.params, STRATEGIES, cores_per_server=4)
    common = dict(strategy="one", servers=3, limit=0.8, horizon_days=100)
    with pytest.raises(ArgumentError, match="plan: spare_servers must be less than servers \\(3\\), not 3"):
        plan(paths(horizon=100), LOAD, spare_servers=3, **common)
    with pytest.raises(ArgumentError, match="needs the load's intraday profile"):
        plan(paths(horizon=100), bare, metric="busiest_hour", **common)
    with pytest.raises(ArgumentError, match="plan: metric must be one of"):
        plan(paths(horizon=100), LOAD, metric="peak", **common)
    with pytest.raises(ArgumentError, match="plan: metric_quantile"):
        plan(paths(horizon=100), LOAD, metric="quantile", **common)
    with pytest.raises(ArgumentError, match="server must be one of"):
        plan(paths(horizon=100), LOAD, server="coldest", **common)


def test_watch_describes_itself():
    assert Watch().describe() == "the daily mean of the average server"
    assert (Watch("quantile", 0.95, "hottest", 2).describe()
            == "the 95th percentile of the hours of the hottest server with 2 servers out of service")
    assert Watch("busiest_hour").as_dict() == {"metric": "busiest_hour", "metric_quantile": None,
                                               "server": "average", "spare_servers": 0}
