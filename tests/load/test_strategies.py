"""Fan-out strategies: values, pandas plumbing, configuration, invariants."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError, dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.errors import ArgumentError, ConfigError
from capacity.load.strategies import (
    STRATEGY_KINDS,
    Broadcast,
    PatternSubscription,
    Sharded,
    Strategy,
    Targeted,
    resolve_strategy,
    strategies_from_config,
    strategy_from_config,
)


def test_broadcast_grows_with_apps():
    s = Broadcast(base_components=40, apps_per_component=100)
    assert s.deliveries(0) == 40.0
    assert s.deliveries(100_000) == 1040.0
    assert s.name == "broadcast"


def test_targeted_is_constant():
    s = Targeted(k=3)
    np.testing.assert_array_equal(s.deliveries(np.array([0.0, 1e3, 1e6])), [3.0, 3.0, 3.0])


def test_sharded_divides_broadcast_fanout():
    s = Sharded(shards=8, base_components=40, apps_per_component=100)
    assert s.deliveries(100_000) == pytest.approx(1040 / 8)
    assert s.deliveries(100_000) == pytest.approx(Broadcast().deliveries(100_000) / 8)


def test_pattern_subscription_adds_scan_cost():
    s = PatternSubscription(k=3, base_patterns=40, apps_per_pattern=1, scan_cost=0.001)
    assert s.deliveries(100_000) == pytest.approx(3 + 0.001 * 100_040)
    assert s.deliveries(0) == pytest.approx(3.04)


def test_deliveries_keeps_the_pandas_type():
    apps = pd.Series([1_000.0, 2_000.0], index=pd.date_range("2010-01-01", periods=2, name="date"))
    for s in (Broadcast(), Targeted(), Sharded(), PatternSubscription()):
        out = s.deliveries(apps)
        assert isinstance(out, pd.Series)
        assert out.index.equals(apps.index)
    grid = np.zeros((4, 5))
    assert Targeted(k=2).deliveries(grid).shape == (4, 5)
    assert isinstance(Broadcast().deliveries(5), float)
    assert isinstance(Broadcast().deliveries([1, 2]), np.ndarray)


def test_strategies_are_frozen_and_named():
    s = Targeted(k=3, name="targeted-3")
    assert s.name == "targeted-3"
    with pytest.raises(FrozenInstanceError):
        s.k = 4  # type: ignore[misc]


def test_a_planner_can_define_a_strategy():
    @dataclass(frozen=True)
    class Tree(Strategy):
        depth: float = 3.0
        name: str = "tree"

        def fanout(self, apps):
            return self.depth * np.log2(2 + apps)

    assert Tree().deliveries(1022.0) == pytest.approx(30.0)
    assert isinstance(Tree().deliveries(pd.Series([0.0])), pd.Series)
    with pytest.raises(TypeError, match="abstract"):
        Strategy()  # type: ignore[abstract]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Targeted(k=-1), r"^Targeted: k must be a finite number > 0, not -1$"),
        (lambda: Targeted(k=0), r"^Targeted: k must be a finite number > 0, not 0$"),
        (lambda: Targeted(k="3"), r"^Targeted: k must be a finite number > 0, not '3'$"),
        (lambda: Sharded(shards=0), r"^Sharded: shards must be a finite number > 0, not 0$"),
        (lambda: Sharded(shards=None), r"^Sharded: shards must be a finite number > 0, not None$"),
        (lambda: Broadcast(apps_per_component=0),
         r"^Broadcast: apps_per_component must be a finite number > 0 or one of inf, not 0$"),
        (lambda: Broadcast(base_components=math.nan), r"^Broadcast: base_components must be a finite number "
                                                      r">= 0, not nan$"),
        (lambda: Broadcast(base_components=True),
         r"^Broadcast: base_components must be .*, not True \(bool\)$"),
        (lambda: PatternSubscription(scan_cost=-0.1),
         r"^PatternSubscription: scan_cost must be a finite number >= 0, not -0\.1$"),
        (lambda: PatternSubscription(apps_per_pattern=0), r"apps_per_pattern must be a finite number > 0"),
        (lambda: Sharded(apps_per_component=-5),
         r"^Sharded: apps_per_component must be a finite number > 0 "),
        (lambda: Targeted(name=""), r"^Targeted: name must be a non-empty string"),
    ],
)
def test_invalid_parameters_raise(make, match):
    with pytest.raises(ArgumentError, match=match):
        make()


def test_a_fixed_fleet_has_infinitely_many_apps_per_component():
    assert Broadcast(base_components=40, apps_per_component=math.inf).deliveries(1e6) == 40.0


@pytest.mark.parametrize(
    ("apps", "match"),
    [
        ("many",
         r"^Targeted\.deliveries: apps must be a finite number >= 0 or an array of them, not 'many'$"),
        (-5, r"^Targeted\.deliveries: apps must be a finite number >= 0, not -5$"),
        ([1.0, np.nan], r"^Targeted\.deliveries: apps\[1\] must be a finite number >= 0, not nan$"),
        (np.array([[0.0, 1.0], [2.0, -1.0]]), r"^Targeted\.deliveries: apps\[1, 1\] must be .*, not -1$"),
        (pd.Series([1.0, -2.0], index=["x", "y"]), r"^Targeted\.deliveries: apps\['y'\] must be .*, not -2$"),
        (["1", "2"], r"apps must be a finite number >= 0 or an array of them, not \['1', '2'\] \(list\)"),
        (True, r"apps must be .*, not True \(bool\)"),
    ],
)
def test_deliveries_refuse_bad_app_counts_naming_the_item(apps, match):
    with pytest.raises(ArgumentError, match=match):
        Targeted(k=3).deliveries(apps)


def test_resolve_strategy_by_name_or_object():
    known = {"broadcast": Broadcast(), "targeted": Targeted()}
    assert resolve_strategy("targeted", known) is known["targeted"]
    other = Sharded(shards=2)
    assert resolve_strategy(other, known) is other
    with pytest.raises(ArgumentError, match=r"^predict: strategy must be one of 'broadcast', 'targeted' or a "
                                            r"Strategy, not 'sharded'$"):
        resolve_strategy("sharded", known, owner="predict")
    with pytest.raises(ArgumentError, match=r"^resolve_strategy: strategy must be a Strategy, not 3$"):
        resolve_strategy(3, {})


def test_from_config_builds_each_kind():
    assert strategy_from_config(
        {"kind": "broadcast", "base_components": 40, "apps_per_component": 100}
    ) == Broadcast(40, 100)
    assert strategy_from_config({"kind": "targeted", "k": 3}, name="t") == Targeted(3, name="t")
    assert strategy_from_config({"kind": "sharded", "shards": 4}).deliveries(0) == 10.0
    assert strategy_from_config({"kind": "pattern", "scan_cost": 0.0, "k": 2}).deliveries(9) == 2.0
    assert sorted(STRATEGY_KINDS) == ["broadcast", "pattern", "sharded", "targeted"]


def test_strategies_from_config_needs_a_table_of_tables():
    with pytest.raises(ConfigError, match=r"expected a table of strategy tables, not \['broadcast'\]"):
        strategies_from_config(["broadcast"])  # type: ignore[arg-type]


def test_strategies_from_config_names_them_by_key():
    built = strategies_from_config({
        "broadcast": {"kind": "broadcast", "base_components": 40, "apps_per_component": 100},
        "targeted-5": {"kind": "targeted", "k": 5},
    })
    assert list(built) == ["broadcast", "targeted-5"]
    assert built["targeted-5"] == Targeted(k=5, name="targeted-5")


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"kind": "multicast"}, r"strategy 'x': unknown kind 'multicast'; known kinds: broadcast, "
                                r"pattern, sharded, targeted"),
        ({"k": 3}, r"strategy 'x': missing key 'kind' \(one of broadcast, pattern, sharded"),
        ({"kind": "targeted", "shards": 2}, r"unknown key\(s\) \['shards'\] for kind 'targeted'; "
                                            r"allowed: k"),
        ({"kind": "targeted", "k": "three"}, r"strategy 'x': k must be a number, not 'three'"),
        ({"kind": "targeted", "k": True}, r"strategy 'x': k must be a number, not True"),
        ({"kind": "sharded", "shards": 0}, r"strategy 'x': Sharded: shards must be a finite"),
        ("broadcast", r"strategy 'x': expected a table with a 'kind' key"),
        ({"kind": "targeted", "k": 0}, r"^strategy 'x': Targeted: k must be a finite number > 0, not 0$"),
    ],
)
def test_bad_config_raises(config, match):
    with pytest.raises(ConfigError, match=match):
        strategy_from_config(config, name="x")


positive = st.floats(min_value=1e-3, max_value=1e4, allow_nan=False)
nonneg = st.floats(min_value=0.0, max_value=1e4, allow_nan=False)


@st.composite
def any_strategy(draw):
    kind = draw(st.sampled_from(sorted(STRATEGY_KINDS)))
    if kind == "broadcast":
        return Broadcast(draw(nonneg), draw(positive))
    if kind == "targeted":
        return Targeted(draw(positive))  # k > 0: a targeted message reaches some component
    if kind == "sharded":
        return Sharded(draw(positive), draw(nonneg), draw(positive))
    return PatternSubscription(draw(nonneg), draw(nonneg), draw(positive), draw(nonneg))


@settings(max_examples=60, deadline=None)
@given(any_strategy(), st.lists(st.floats(0, 1e7), min_size=2, max_size=20))
def test_deliveries_are_non_negative_and_non_decreasing(strategy, apps):
    grid = np.sort(np.asarray(apps))
    f = strategy.deliveries(grid)
    assert np.all(f >= 0)
    assert np.all(np.diff(f) >= -1e-9 * np.maximum(np.abs(f[1:]), 1))
    # vectorised and scalar evaluation agree
    assert strategy.deliveries(float(grid[-1])) == pytest.approx(f[-1])


# ------------------------------------------------------------------------------------------------
# measured fields: what a broker counts, linear in the fields it determines


@settings(max_examples=60, deadline=None)
@given(any_strategy(), st.lists(st.floats(0, 1e6), min_size=1, max_size=10))
def test_delivered_is_linear_in_the_measured_fields(strategy, apps):
    grid = np.asarray(apps)
    terms = strategy.measured_terms(grid)
    assert terms.shape == (grid.size, len(strategy.measured_fields))
    theta = np.linalg.lstsq(strategy.measured_terms(np.array([0.0, 1e4, 2e4])),
                            strategy.delivered(np.array([0.0, 1e4, 2e4])), rcond=None)[0]
    theta = np.maximum(theta, 0)  # what the non-negative fit returns, without the rounding below 0
    scale = max(1.0, float(np.abs(strategy.delivered(np.array([2e4]))).max()))
    np.testing.assert_allclose(terms @ theta, strategy.delivered(grid), rtol=1e-7, atol=1e-7 * scale)
    # from_measured(theta) rebuilds the strategy (every other field kept)
    rebuilt = strategy.from_measured(theta)
    assert type(rebuilt) is type(strategy) and rebuilt.name == strategy.name
    np.testing.assert_allclose(rebuilt.deliveries(grid), strategy.deliveries(grid), rtol=1e-6,
                               atol=1e-6 * scale)


def test_measured_fields_of_each_kind():
    assert Broadcast.measured_fields == ("base_components", "apps_per_component")
    assert Sharded.measured_fields == ("base_components", "apps_per_component")
    assert Targeted.measured_fields == ("k",) and PatternSubscription.measured_fields == ("k",)
    assert Broadcast().from_measured([30, 0.02]) == Broadcast(30, 50)
    assert Broadcast().from_measured([30, 0]) == Broadcast(30, math.inf)  # no slope: a fixed fleet
    assert Broadcast().measured_values(np.array([[1.0, 0.5], [2.0, 0.0]]))["apps_per_component"].tolist() == [
        2.0, math.inf]
    # the broker counts a pattern subscription's k deliveries, not its scan cost
    pattern = PatternSubscription(k=3, scan_cost=0.01)
    assert pattern.delivered(np.array([1000.0])).tolist() == [3.0]
    assert pattern.deliveries(1000.0) == pytest.approx(3 + 0.01 * 1040)
    with pytest.raises(ArgumentError, match=r"^Targeted: k must be a finite number > 0, not 0\.0$"):
        Targeted().from_measured([0.0])


def test_a_planners_strategy_has_no_measured_fields():
    @dataclass(frozen=True)
    class Tree(Strategy):
        name: str = "tree"

        def fanout(self, apps):
            return 3 * np.log2(2 + apps)

    tree = Tree()
    assert tree.measured_fields == () and tree.measured_terms(np.ones(4)).shape == (4, 0)
    np.testing.assert_allclose(tree.delivered(np.array([0.0, 2.0])), [3.0, 6.0])
    assert tree.from_measured([]) == tree
