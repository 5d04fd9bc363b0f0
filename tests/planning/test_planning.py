"""Tests of capacity.planning: crossing dates, deadlines, P(late), runway, roadmap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from capacity.errors import ArgumentError, CapacityError, ConfigError
from capacity.load.strategies import Targeted
from capacity.planning.limits import FixedLoad, LatencyLimit
from capacity.planning.montecarlo import plan, threshold_crossing
from capacity.planning.projects import (
    AddServers,
    LeadTime,
    Project,
    ScaleCost,
    SwitchStrategy,
    effect_from_config,
)
from capacity.planning.result import drift

AS_OF = pd.Timestamp("2020-01-01")
# one delivery per message, one core, no fixed cost: utilisation = b * apps exactly
LOAD = FixedLoad({"u0": 0.0, "a": 0.0, "b": 1e-4}, {"one": Targeted(k=1), "half": Targeted(k=0.5)},
                 cores_per_server=1)


def linear_paths(n: int, horizon: int, *, start: float = 1000.0, per_day: float = 10.0) -> pd.DataFrame:
    dates = pd.date_range(AS_OF + pd.Timedelta(days=1), periods=horizon)
    values = start + per_day * np.arange(1, horizon + 1)
    return pd.DataFrame(np.tile(values, (n, 1)), columns=dates)


def test_deterministic_crossing_is_exact_to_the_day():
    # utilisation 1e-4 * (1000 + 10 t) reaches 0.5 when apps = 5000, on day t = 400 exactly
    result = plan(linear_paths(20, 500), LOAD, strategy="one", servers=1, limit=0.5, horizon_days=500)
    expected = AS_OF + pd.Timedelta(days=400)
    assert result.crossing.p10 == result.crossing.p50 == result.crossing.p90 == expected
    assert result.crossing.p_none == 0.0
    # a hair below the limit on day 399: 1e-4 * 4990 = 0.499
    assert result.utilisation.loc[expected - pd.Timedelta(days=1), "p50"] == pytest.approx(0.499)


def test_no_crossing_is_stated_not_infinite():
    result = plan(linear_paths(20, 300), LOAD, strategy="one", servers=1, limit=0.5, horizon_days=300)
    c = result.crossing
    assert (c.p10, c.p50, c.p90) == (None, None, None)
    assert c.p_none == 1.0
    assert "not before 2020-10-27" in c.describe()
    assert "stays under 50% until at least 2020-10-27" in result.headline


def test_servers_and_cost_factor_scale_utilisation():
    # two servers halve the utilisation: 0.5 is reached at apps = 10000, day 900
    result = plan(linear_paths(5, 1000), LOAD, strategy="one", servers=2, limit=0.5, horizon_days=1000)
    assert result.crossing.p50 == AS_OF + pd.Timedelta(days=900)
    # a cost factor of 0.5 landing on day 100 does the same from then on
    cheaper = Project("tune", effect=ScaleCost(0.5), lead_time=(0, 0, 0), land=AS_OF + pd.Timedelta(days=100))
    result = plan(linear_paths(5, 1000), LOAD, strategy="one", servers=1, limit=0.5, horizon_days=1000,
                  projects=[cheaper])
    assert result.deadlines.iloc[0]["runway_p50"] == AS_OF + pd.Timedelta(days=900)


def test_pert_lead_time_matches_the_analytic_distribution():
    lead = LeadTime(10, 20, 40)
    alpha, beta = 1 + 4 * 10 / 30, 1 + 4 * 20 / 30
    # analytic quantiles of the PERT: a Beta(alpha, beta) on [10, 40]
    for q in (0.1, 0.5, 0.9):
        assert lead.ppf(q) == pytest.approx(10 + 30 * special.betaincinv(alpha, beta, q), rel=1e-10)
    draws = lead.sample(200_000, np.random.default_rng(1))
    mean = (10 + 4 * 20 + 40) / 6  # the classic PERT mean
    assert lead.mean == pytest.approx(mean)
    assert draws.mean() == pytest.approx(mean, abs=0.05)
    # the PERT variance (mu - o)(p - mu) / 7
    assert draws.var() == pytest.approx((mean - 10) * (40 - mean) / 7, rel=0.01)
    for q in (0.1, 0.5, 0.9):
        assert np.quantile(draws, q) == pytest.approx(lead.ppf(q), abs=0.1)


def test_lead_time_conditioned_on_elapsed_days():
    lead = LeadTime(10, 20, 40)
    draws = lead.sample(50_000, np.random.default_rng(2), elapsed=25)
    assert draws.min() > 25
    # P(L > 30 | L > 25) from the analytic CDF
    expected = (1 - lead.cdf(30)) / (1 - lead.cdf(25))
    assert np.mean(draws > 30) == pytest.approx(expected, abs=0.01)
    overdue = lead.sample(10, np.random.default_rng(2), elapsed=45)
    assert (overdue == 46).all()


def test_p_late_matches_hand_computation_for_a_fixed_landing():
    # half of the futures cross on day 100, half on day 200 (two growth rates)
    fast = linear_paths(500, 300, start=0, per_day=50)  # 1e-4 * 50 t = 0.5 at t = 100
    slow = linear_paths(500, 300, start=0, per_day=25)  # ... at t = 200
    paths = pd.concat([fast, slow], ignore_index=True)
    landing = AS_OF + pd.Timedelta(days=150)
    project = Project("fix", effect=SwitchStrategy("half"), lead_time=(10, 20, 30), landed=landing)
    result = plan(paths, LOAD, strategy="one", servers=1, limit=0.5, horizon_days=300,
                  projects=[project], n_paths=1000)
    row = result.deadlines.iloc[0]
    assert row["p_late"] == pytest.approx(0.5)  # late on exactly the fast half
    assert bool(row["at_risk"])
    # at 90% the project must land before the earliest crossings: day 100
    assert row["must_land_by"] == AS_OF + pd.Timedelta(days=100)
    assert result.crossing.p10 == AS_OF + pd.Timedelta(days=100)
    assert result.crossing.p90 == AS_OF + pd.Timedelta(days=200)


@pytest.mark.slow
def test_p_late_matches_hand_computation_for_a_planned_start():
    # crossing fixed at day 400; start on day 370 with PERT(10, 20, 40): late when L > 30
    project = Project("fix", effect=SwitchStrategy("half"), lead_time=(10, 20, 40),
                      start=AS_OF + pd.Timedelta(days=370))
    result = plan(linear_paths(20_000, 500), LOAD, strategy="one", servers=1, limit=0.5,
                  horizon_days=500, projects=[project], n_paths=20_000)
    alpha, beta = 1 + 4 * 10 / 30, 1 + 4 * 20 / 30
    expected = 1 - special.betainc(alpha, beta, (30 - 10) / 30)
    assert result.deadlines.iloc[0]["p_late"] == pytest.approx(expected, abs=0.01)


def test_must_start_by_subtracts_the_lead_time_at_confidence():
    project = Project("fix", effect=AddServers(1), lead_time=(10, 20, 40))
    result = plan(linear_paths(20_000, 500), LOAD, strategy="one", servers=1, limit=0.5,
                  horizon_days=500, projects=[project], n_paths=20_000, confidence=0.9)
    row = result.deadlines.iloc[0]
    assert row["status"] == "unscheduled"
    assert row["must_land_by"] == AS_OF + pd.Timedelta(days=400)
    p90_lead = LeadTime(10, 20, 40).ppf(0.9)
    assert (AS_OF + pd.Timedelta(days=400) - row["must_start_by"]).days == pytest.approx(p90_lead, abs=1)


def test_runway_and_roadmap_compose():
    # A doubles the servers (crossing moves from day 400 to 900), landing on day 300;
    # B then halves the cost; B's must-land-by is the crossing of the system with A landed
    a = Project("A", effect=AddServers(1), lead_time=(0, 0, 0), landed=AS_OF + pd.Timedelta(days=300))
    b = Project("B", effect=ScaleCost(0.5), lead_time=(0, 0, 0), landed=AS_OF + pd.Timedelta(days=1000))
    result = plan(linear_paths(10, 2500), LOAD, strategy="one", servers=1, limit=0.5,
                  horizon_days=2500, projects=[b, a])
    rows = result.deadlines.set_index("project")
    assert list(result.deadlines["project"]) == ["A", "B"]  # ordered by landing
    assert rows.loc["A", "must_land_by"] == AS_OF + pd.Timedelta(days=400)
    assert rows.loc["A", "runway_p50"] == AS_OF + pd.Timedelta(days=900)
    assert rows.loc["B", "must_land_by"] == AS_OF + pd.Timedelta(days=900)
    assert rows.loc["B", "p_late"] == 1.0  # lands on day 1000, after the crossing on day 900
    # with B landed, 1e-4 * 0.5 * apps / 2 = 0.5 at apps = 20000: day 1900
    assert rows.loc["B", "runway_p50"] == AS_OF + pd.Timedelta(days=1900)


def test_landed_projects_are_reported_not_planned():
    project = Project("old", effect=AddServers(1), lead_time=(1, 2, 3), landed=AS_OF - pd.Timedelta(days=5))
    result = plan(linear_paths(10, 500), LOAD, strategy="one", servers=1, limit=0.5, horizon_days=500,
                  projects=[project])
    row = result.deadlines.iloc[0]
    assert row["status"] == "landed" and not row["at_risk"]
    assert pd.isna(row["must_land_by"])


def test_latency_limit_turns_into_a_utilisation():
    # M/M/1 mean response S / (1 - rho): 10 ms service, 50 ms target -> rho = 0.8
    limit = LatencyLimit(target_ms=50, service_ms=10, parallelism=1)
    assert limit.utilisation() == pytest.approx(0.8, rel=1e-9)
    result = plan(linear_paths(5, 1000), LOAD, strategy="one", servers=1, limit=limit, horizon_days=1000)
    assert result.limit == pytest.approx(0.8)
    assert result.crossing.p50 == AS_OF + pd.Timedelta(days=700)


def test_latency_limit_of_a_single_threaded_broker_on_a_multicore_server():
    # the broker saturates at one busy core of four: 80% of one core is 20% of the server
    load = FixedLoad(LOAD.params, LOAD.strategies, cores_per_server=4)
    limit = LatencyLimit(target_ms=50, service_ms=10, parallelism=1)
    assert limit.utilisation(4) == pytest.approx(0.2)
    result = plan(linear_paths(5, 1000), load, strategy="one", servers=1, limit=limit, horizon_days=1000)
    assert result.limit == pytest.approx(0.2)
    # 1e-4 * apps / 4 = 0.2 at apps = 8000: day 700
    assert result.crossing.p50 == AS_OF + pd.Timedelta(days=700)


def test_same_seed_same_plan_and_chart_builds():
    paths = linear_paths(200, 500) * np.linspace(0.9, 1.1, 200)[:, None]
    project = Project("fix", effect=SwitchStrategy("half"), lead_time=(10, 20, 40),
                      start=AS_OF + pd.Timedelta(days=300))
    kwargs = {"strategy": "one", "servers": 1, "limit": 0.5, "horizon_days": 500, "projects": [project],
              "n_paths": 200, "seed": 7}
    first, second = plan(paths, LOAD, **kwargs), plan(paths, LOAD, **kwargs)
    pd.testing.assert_frame_equal(first.deadlines, second.deadlines)
    assert first.crossing == second.crossing
    spec = first.chart().to_dict()
    assert len(spec["vconcat"]) == 3
    assert "Plan(as_of=2020-01-01, limit=50%" in repr(first)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        # a percentage where a fraction belongs is named as such
        ({"limit": 70},
         r"^plan: limit must be a finite number in \(0, 1\] or a LatencyLimit, not 70 \(70% is 0\.7\)$"),
        ({"limit": 0.0}, r"^plan: limit must be a finite number in \(0, 1\] or a LatencyLimit, not 0\.0$"),
        ({"confidence": 0.3}, r"^plan: confidence must be a finite number in \[0\.5, 1\), not 0\.3$"),
        ({"confidence": 1.0}, r"^plan: confidence must be a finite number in \[0\.5, 1\), not 1\.0$"),
        ({"strategy": "shouting"}, r"^plan: strategy must be one of 'one', 'half', not 'shouting'$"),
        # the percentage hint is the limit's alone
        ({"strategy": "shouting", "limit": 70},
         r"^plan: strategy must be one of 'one', 'half', not 'shouting'$"),
        ({"servers": 2.5}, r"^plan: servers must be an integer >= 1, not 2\.5$"),
        ({"horizon_days": 0}, r"^plan: horizon_days must be an integer in \[1, 36500\], not 0$"),
        ({"n_paths": 10**7},
         r"^plan: n_paths must be an integer in \[1, 1000000\] \(paths drawn from growth\), not 10000000$"),
        ({"seed": -1}, r"^plan: seed must be an integer >= 0, not -1$"),
        ({"as_of": "2020-13-01"}, r"^plan: as_of must be a date .*, not '2020-13-01'$"),
        ({"projects": "fix"}, r"^plan: projects must be a list or tuple, not 'fix'$"),
        ({"projects": [AddServers(1)]}, r"^plan: projects\[0\] must be a Project, not AddServers"),
        ({"projects": [Project("x", effect=SwitchStrategy("shouting"), lead_time=(1, 2, 3))]},
         r"^plan: projects\[0\]\.effect\.strategy must be one of 'one', 'half', not 'shouting'$"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"strategy": "one", "servers": 1, "limit": 0.5, "horizon_days": 100} | kwargs
    with pytest.raises(ArgumentError, match=match):
        plan(linear_paths(5, 100), LOAD, **args)


def test_bad_growth_and_load():
    args = {"strategy": "one", "servers": 1, "limit": 0.5, "horizon_days": 100}
    with pytest.raises(ArgumentError, match=r"^plan: growth must be a GrowthFit or a DataFrame, "
                                            r"not \[1, 2\] \(list\)$"):
        plan([1, 2], LOAD, **args)
    with pytest.raises(ArgumentError, match=r"^plan: load must be a MessagingModel or FixedLoad, not 3"):
        plan(linear_paths(5, 100), 3, **args)
    with pytest.raises(ArgumentError, match=r"^plan: growth must be a frame of paths with daily dates"):
        plan(linear_paths(5, 100).set_axis(range(100), axis=1), LOAD, **args)
    with pytest.raises(ArgumentError, match=r"^plan: growth paths cover 50 days after 2020-01-01; the "
                                            r"horizon is 100 days$"):
        plan(linear_paths(5, 50), LOAD, **args)
    with pytest.raises(ArgumentError, match=r"^plan: growth paths start on 2020-01-02; the plan as of "
                                            r"2019-12-01 needs them from 2019-12-02$"):
        plan(linear_paths(5, 100), LOAD, **args, as_of="2019-12-01")


def test_bad_project_definitions():
    with pytest.raises(ArgumentError, match=r"^LeadTime: likely must be a finite number >= 5, not 2$"):
        LeadTime(5, 2, 3)
    with pytest.raises(ArgumentError, match=r"^LeadTime: pessimistic must be a finite number >= 2, not inf$"):
        LeadTime(1, 2, float("inf"))
    with pytest.raises(ArgumentError, match=r"^LeadTime: optimistic must be a finite number >= 0, not True"):
        LeadTime(True, 2, 3)
    with pytest.raises(ArgumentError, match=r"^Project: lead_time must be a LeadTime or \(optimistic, "
                                            r"likely, pessimistic\) days with 0 <= optimistic <= likely "
                                            r"<= pessimistic, not \(5, 2, 1\)"):
        Project("x", effect=AddServers(1), lead_time=(5, 2, 1))
    with pytest.raises(ArgumentError, match=r"^Project: lead_time must be .*, not \(1, 2\)"):
        Project("x", effect=AddServers(1), lead_time=(1, 2))
    with pytest.raises(ArgumentError, match="give a planned start or a landing date, not both"):
        Project("x", effect=AddServers(1), lead_time=(1, 2, 3), start="2020-01-01", landed="2020-02-01")
    with pytest.raises(TypeError, match="lead_time"):
        Project("x", effect=AddServers(1))  # a lead time is part of every project
    with pytest.raises(ArgumentError, match=r"^Project: effect must be a SwitchStrategy or AddServers or "
                                            r"ScaleCost, not 'more'"):
        Project("x", effect="more", lead_time=(1, 2, 3))
    with pytest.raises(ArgumentError, match=r"^Project: land must be a date .*, not '1 May'$"):
        Project("x", effect=AddServers(1), lead_time=(1, 2, 3), land="1 May")
    with pytest.raises(ArgumentError, match=r"^AddServers: servers must be an integer >= 1, not 0$"):
        AddServers(0)
    with pytest.raises(ArgumentError, match=r"^ScaleCost: factor must be a finite number > 0, not -1$"):
        ScaleCost(-1)
    with pytest.raises(ArgumentError, match=r"^SwitchStrategy: strategy must be a non-empty string"):
        SwitchStrategy(" ")
    assert Project("x", effect=AddServers(1), lead_time=(1, 2, 3)).lead_time == LeadTime(1.0, 2.0, 3.0)


def test_effects_from_config_values():
    assert effect_from_config("add_servers", 2) == AddServers(2)
    assert effect_from_config("add_servers", 2.0) == AddServers(2)  # a whole number written as a float
    assert effect_from_config("cost_factor", 0.8) == ScaleCost(0.8)
    assert effect_from_config("strategy", "half") == SwitchStrategy("half")
    with pytest.raises(ConfigError, match=r"^project effect add_servers must be an integer >= 1, not 2\.5$"):
        effect_from_config("add_servers", 2.5)
    with pytest.raises(ConfigError, match=r"^project effect cost_factor must be a finite number > 0, not 0$"):
        effect_from_config("cost_factor", 0)
    with pytest.raises(ConfigError, match=r"^project effect strategy must be a non-empty string"):
        effect_from_config("strategy", 3)
    with pytest.raises(ConfigError, match=r"^unknown project effect 'servers' \(known: strategy, "
                                          r"add_servers, cost_factor\)$"):
        effect_from_config("servers", 1)


def test_bad_limits_and_loads():
    with pytest.raises(ArgumentError, match=r"^LatencyLimit: service_ms must be a finite number > 0, not 0$"):
        LatencyLimit(target_ms=50, service_ms=0)
    with pytest.raises(ArgumentError, match=r"^LatencyLimit: quantile must be a finite number in \(0, 1\) or "
                                            r"None, not 1\.0$"):
        LatencyLimit(target_ms=50, service_ms=1, quantile=1.0)
    with pytest.raises(ArgumentError, match=r"^LatencyLimit\.utilisation: cores_per_server must be"):
        LatencyLimit(target_ms=50, service_ms=1).utilisation(0)
    with pytest.raises(ArgumentError, match=r"^FixedLoad: params\['b'\] must be a finite number, not nan$"):
        FixedLoad({"u0": 0.0, "a": 0.0, "b": float("nan")}, LOAD.strategies)
    with pytest.raises(ArgumentError, match=r"^FixedLoad: params must have the keys 'u0', 'a' and 'b'"):
        FixedLoad({"u0": 0.0, "a": 0.0}, LOAD.strategies)
    with pytest.raises(ArgumentError, match=r"^FixedLoad: strategies\['one'\] must be a Strategy, "
                                            r"not 'k=1'$"):
        FixedLoad(LOAD.params, {"one": "k=1"})


def test_drift_and_threshold_crossing_refuse_bad_arguments():
    result = plan(linear_paths(5, 100), LOAD, strategy="one", servers=1, limit=0.5, horizon_days=100)
    with pytest.raises(ArgumentError, match=r"^drift: after must be a Plan, not None$"):
        drift(result, None)
    with pytest.raises(ArgumentError, match=r"^threshold_crossing: threshold must be a finite number, "
                                            r"not nan$"):
        threshold_crossing(linear_paths(5, 100), float("nan"), horizon_days=100)
    with pytest.raises(ArgumentError, match=r"^threshold_crossing: horizon_days must be an integer in "
                                            r"\[1, 36500\], not 100\.0$"):
        threshold_crossing(linear_paths(5, 100), 3000.0, horizon_days=100.0)


def test_threshold_crossing_on_counts():
    crossing = threshold_crossing(linear_paths(10, 500), 3000.0, horizon_days=500)
    assert crossing.p50 == AS_OF + pd.Timedelta(days=200)  # 1000 + 10 t = 3000
    never = threshold_crossing(linear_paths(10, 100), 3000.0, horizon_days=100)
    assert never.p10 is None and never.p_none == 1.0


def test_capacity_plan_is_the_function_in_any_import_order():
    import capacity
    import capacity.pipeline
    import capacity.planning.montecarlo  # no module is named plan, so no import can rebind capacity.plan

    result = capacity.plan(linear_paths(5, 500), LOAD, strategy="one", servers=1, limit=0.5, horizon_days=500)
    assert result.crossing.p50 == AS_OF + pd.Timedelta(days=400)
    assert capacity.plan is capacity.planning.plan
    assert capacity.Project is Project


class _Line:
    """A growth model with known, deterministic paths (the planner only needs these members)."""

    def __init__(self, last_date: str, last_value: float, per_day: float):
        self.last_date, self.last_value, self.per_day = pd.Timestamp(last_date), last_value, per_day

    def paths(self, horizon_days: int, *, n: int = 1000, seed: int = 0) -> pd.DataFrame:
        dates = pd.date_range(self.last_date + pd.Timedelta(days=1), periods=horizon_days)
        values = self.last_value + self.per_day * np.arange(1, horizon_days + 1)
        return pd.DataFrame(np.tile(values, (n, 1)), columns=dates)


def test_already_above_the_limit_today_is_said_so():
    growth = _Line("2020-01-01", 6000, 10)  # 1e-4 * 6000 = 0.6 >= 0.5 today
    result = plan(growth, LOAD, strategy="one", servers=1, limit=0.5, horizon_days=100, n_paths=10)
    assert result.crossing.p_now == 1.0
    assert result.crossing.p10 == AS_OF  # day 0
    assert result.headline.startswith("Messaging CPU (the daily mean of the average server) is at or "
                                      "above 50% already on 2020-01-01")


def test_as_of_after_the_last_data_day_forecasts_the_gap():
    growth = _Line("2020-01-01", 1000, 10)
    result = plan(growth, LOAD, strategy="one", servers=1, limit=0.5, horizon_days=500, n_paths=10,
                  as_of="2020-01-11")
    # apps reach 5000 on day 400 after the data's last day, which is day 390 after as_of
    assert result.as_of == pd.Timestamp("2020-01-11")
    assert result.crossing.p50 == pd.Timestamp("2020-01-01") + pd.Timedelta(days=400)
    with pytest.raises(CapacityError, match=r"as_of 2019-12-25 is before the growth fit's last day"):
        plan(growth, LOAD, strategy="one", servers=1, limit=0.5, as_of="2019-12-25")


def test_paths_starting_before_as_of_are_trimmed():
    paths = linear_paths(5, 600)  # from 2020-01-02
    result = plan(paths, LOAD, strategy="one", servers=1, limit=0.5, horizon_days=500, as_of="2020-01-11")
    assert result.crossing.p50 == AS_OF + pd.Timedelta(days=400)


def test_must_start_by_in_the_past_is_floored_and_at_risk():
    # crossing on day 400, lead time exactly 400.5 days: it should have started yesterday
    project = Project("late", effect=AddServers(1), lead_time=(400.5, 400.5, 400.5))
    result = plan(linear_paths(5, 500), LOAD, strategy="one", servers=1, limit=0.5, horizon_days=500,
                  projects=[project])
    row = result.deadlines.iloc[0]
    assert row["must_start_by"] == AS_OF - pd.Timedelta(days=1)
    assert row["at_risk"]


def test_overdue_and_in_progress_projects():
    late = AS_OF - pd.Timedelta(days=30)
    overdue = Project("overdue", effect=AddServers(1), lead_time=(10, 20, 30), land=late)
    started = Project("started", effect=ScaleCost(0.9), lead_time=(10, 20, 40),
                      start=AS_OF - pd.Timedelta(days=25))
    result = plan(linear_paths(2000, 500), LOAD, strategy="one", servers=1, limit=0.5, horizon_days=500,
                  projects=[overdue, started], n_paths=2000)
    rows = result.deadlines.set_index("project")
    # overdue, but it slips by at most 1 + (30 - 10) days and the crossing is 400 days away
    assert rows.loc["overdue", "status"] == "overdue" and not rows.loc["overdue", "at_risk"]
    assert rows.loc["overdue", "p_late"] == 0.0
    assert rows.loc["started", "status"] == "in progress"
    # an overdue project whose possible slip reaches the crossing is at risk: crossing on day 10
    soon = plan(linear_paths(2000, 500, start=4900), LOAD, strategy="one", servers=1, limit=0.5,
                horizon_days=500, projects=[overdue], n_paths=2000).deadlines.iloc[0]
    assert soon["status"] == "overdue" and soon["at_risk"]
    # late when 1 + ceil(L - 10) > 10, i.e. L > 19: P = 1 - F(19) of the PERT(10, 20, 30)
    assert soon["p_late"] == pytest.approx(1 - LeadTime(10, 20, 30).cdf(19), abs=0.03)
    # 25 days in, the remaining lead time is drawn given L > 25: it lands after today, by day 15
    planned = rows.loc["started", "planned_landing"]
    assert AS_OF < planned <= AS_OF + pd.Timedelta(days=15)


def test_switch_to_the_strategy_in_force_is_in_effect():
    project = Project("again", effect=SwitchStrategy("one"), lead_time=(1, 2, 3), land="2020-06-01")
    result = plan(linear_paths(5, 500), LOAD, strategy="one", servers=1, limit=0.5, horizon_days=500,
                  projects=[project])
    assert result.deadlines.iloc[0]["status"] == "in effect"
    assert not result.deadlines.iloc[0]["at_risk"]


def test_headline_when_the_median_is_beyond_the_horizon():
    # a fifth of the futures cross on day 100; the rest never do within 300 days
    fast = linear_paths(200, 300, start=0, per_day=50)
    slow = linear_paths(800, 300, start=0, per_day=1)
    result = plan(pd.concat([fast, slow], ignore_index=True), LOAD, strategy="one", servers=1, limit=0.5,
                  horizon_days=300, n_paths=1000)
    c = result.crossing
    assert c.p10 == AS_OF + pd.Timedelta(days=100) and c.p50 is None and c.p90 is None
    assert c.p_none == pytest.approx(0.8)
    assert result.headline == ("Messaging CPU (the daily mean of the average server) crosses 50% as early "
                               "as 2020-04-10 (P10), median after 2020-10-27; 80% chance of no crossing by "
                               "2020-10-27.")
